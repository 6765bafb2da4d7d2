"""Serve the admin API on localhost: Azurite, a vendor simulator, the Key Vault stand-in and the
in-process Durable host behind the same client interface the HTTP trigger gets in Azure.

``python -m devtools.api_server --vendor sendgrid`` (``make api``), then mint a token with
``python -m devtools.tokens admin``. Tests build the same server with ``local_api`` and run it with
``ServerThread`` (uvicorn on 127.0.0.1 in a thread).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import typer
import uvicorn
from fastapi import FastAPI

from devtools.durable_host import LocalDurableHost
from devtools.local_env import LocalEnv
from devtools.tokens import DEV_AUDIENCE, DEV_ISSUER, DevIssuer, JwksServer, load_or_create_key
from shared.api.app import create_app
from shared.api.auth import KeySet, TokenVerifier
from shared.api.context import ApiContext
from shared.api.settings import CLOCK_SKEW_SECONDS, JWKS_CACHE_SECONDS, JWKS_MIN_REFRESH_SECONDS, ApiSettings


@dataclass
class LocalApi:
    app: FastAPI
    context: ApiContext
    durable: LocalDurableHost


def local_api(
    env: LocalEnv,
    jwks_url: str,
    *,
    min_refresh: float = JWKS_MIN_REFRESH_SECONDS,
    oauth_endpoints: dict[str, dict[str, str]] | None = None,
    **settings: Any,
) -> LocalApi:
    """The API over a local environment, trusting the key set at ``jwks_url`` (``min_refresh``: tests
    roll keys faster than Entra ID would)."""
    api_settings = ApiSettings(
        api_audience=settings.pop("api_audience", DEV_AUDIENCE),
        api_issuer=settings.pop("api_issuer", DEV_ISSUER),
        api_jwks_url=jwks_url,
        **settings,
    )
    keys = KeySet(jwks_url, ttl=JWKS_CACHE_SECONDS, min_refresh=min_refresh)
    verifier = TokenVerifier(
        keys,
        audience=api_settings.api_audience,
        issuer=api_settings.api_issuer,
        leeway=CLOCK_SKEW_SECONDS,
    )
    durable = env.host
    context = ApiContext(
        settings=api_settings,
        store=env.runtime.store,
        segments=env.runtime.segments,
        secrets=env.runtime.secrets,
        verifier=verifier,
        durable_client=durable,
        oauth_endpoints=oauth_endpoints or {},
    )
    return LocalApi(create_app(context), context, durable)


class ServerThread:
    """uvicorn on 127.0.0.1 in a thread with its own event loop (the in-process host's tasks run there)."""

    def __init__(self, app: FastAPI, port: int = 0) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, name="api", daemon=True)
        self.url = ""

    def __enter__(self) -> ServerThread:
        self.thread.start()
        for _ in range(500):
            if self.server.started:
                break
            threading.Event().wait(0.01)
        if not self.server.started:
            raise RuntimeError("the API server did not start")
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    with ServerThread(app) as server:
        yield server.url


cli = typer.Typer(add_completion=False, help="Serve the admin API locally")


@cli.command()
def main(
    vendor: str = typer.Option("sendgrid", help="the vendor simulator to start"),
    port: int = typer.Option(8080, min=1, max=65535),
    profiles: int = typer.Option(2000, min=0, help="sample profiles to seed in two segments"),
) -> None:
    """Start Azurite, the simulator, the Key Vault stand-in and the API on http://127.0.0.1:PORT/api."""
    from devtools.azurite import Azurite
    from devtools.local_env import local_env
    from devtools.sample_data import seed_sample

    issuer = DevIssuer(load_or_create_key())
    with Azurite() as azurite, JwksServer(issuer) as jwks, local_env(vendor, azurite.connection_string) as env:
        if profiles:
            seed_sample(env.runtime.segments, profiles)
        api = local_api(env, jwks.url)
        print(f"Admin API on http://127.0.0.1:{port}/api  (vendor simulator {env.simulator.url})")
        print(f"  target list in the simulator: {env.target_id}")
        print(f"  simulator API key: {env.simulator.api_key}  (simulated; used as the connection credential)")
        print("  segments: segments/vip-customers, segments/newsletter")
        print("  token:    TOKEN=$(python -m devtools.tokens admin)")
        print("  Key Vault: an in-memory stand-in (local only). Ctrl-C stops everything.")
        uvicorn.run(api.app, host="127.0.0.1", port=port, log_level="info", lifespan="off")


if __name__ == "__main__":
    cli()
