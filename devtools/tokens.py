"""Development tokens for the admin API, signed by a local RSA key that only the local configuration trusts.

``python -m devtools.tokens admin`` (or ``contributor``) prints a bearer token. The key lives in
``.run/api-dev-key.pem`` (git-ignored, made on first use); ``python -m devtools.api_server`` serves its
public half as the JWKS the local API trusts. Tests use ``DevIssuer`` with a throwaway key and
``JwksServer`` to play Entra ID's key endpoint on loopback.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import typer
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shared.api.auth import ADMIN, CONTRIBUTOR

KEY_FILE = Path(".run/api-dev-key.pem")
DEV_TENANT = "00000000-0000-0000-0000-00000000d3v0"
DEV_ISSUER = f"https://login.microsoftonline.com/{DEV_TENANT}/v2.0"
DEV_AUDIENCE = "api://segment-export-local"
ROLES = {"admin": ADMIN, "contributor": CONTRIBUTOR}


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def load_or_create_key(path: Path = KEY_FILE) -> rsa.RSAPrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key
    key = new_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return key


class DevIssuer:
    """Mints RS256 tokens shaped like Entra ID access tokens (v2): iss, aud, exp, nbf, oid, roles."""

    def __init__(
        self,
        key: rsa.RSAPrivateKey | None = None,
        *,
        kid: str | None = None,
        issuer: str = DEV_ISSUER,
        audience: str = DEV_AUDIENCE,
    ) -> None:
        self.key = key or new_key()
        self.kid = kid or uuid.uuid5(uuid.NAMESPACE_OID, str(self.key.public_key().public_numbers().n)).hex[:16]
        self.issuer = issuer
        self.audience = audience

    def jwk(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {**document, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def mint(
        self,
        roles: list[str] | tuple[str, ...] = (ADMIN,),
        *,
        subject: str = "00000000-0000-0000-0000-0000000a0001",
        name: str = "admin@example.test",
        lifetime: int = 3600,
        not_before: int | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        kid: str | None = None,
        key: rsa.RSAPrivateKey | None = None,
        claims: dict[str, Any] | None = None,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": issuer or self.issuer,
            "aud": audience or self.audience,
            "iat": now,
            "nbf": not_before if not_before is not None else now,
            "exp": now + lifetime,
            "oid": subject,
            "sub": subject,
            "tid": DEV_TENANT,
            "preferred_username": name,
            "roles": list(roles),
            **(claims or {}),
        }
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})


class JwksServer:
    """A JWKS endpoint on 127.0.0.1 (aiohttp, in a thread of its own), like Entra ID's discovery keys."""

    def __init__(self, *issuers: DevIssuer) -> None:
        self.keys = [i.jwk() for i in issuers]
        self.requests = 0
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def set_keys(self, *issuers: DevIssuer) -> None:
        self.keys = [i.jwk() for i in issuers]

    async def _serve(self, request: web.Request) -> web.Response:
        self.requests += 1
        return web.json_response({"keys": self.keys})

    def start(self) -> str:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_get("/discovery/v2.0/keys", self._serve)
            runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self.url = f"http://127.0.0.1:{port}/discovery/v2.0/keys"
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="jwks", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self.url

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> JwksServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


app = typer.Typer(add_completion=False, help="Mint development tokens for the local admin API")


@app.command()
def main(
    role: str = typer.Argument("admin", help="admin | contributor | none"),
    minutes: int = typer.Option(60, min=1, max=24 * 60),
    name: str = typer.Option("", help="preferred_username (default: <role>@example.test)"),
) -> None:
    """Print a bearer token for the local API (trusted only by `python -m devtools.api_server`)."""
    if role not in (*ROLES, "none"):
        raise typer.BadParameter("choose admin, contributor or none", param_hint="role")
    issuer = DevIssuer(load_or_create_key())
    roles = [ROLES[role]] if role in ROLES else []
    subject = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{role}.segment-export.local"))
    print(issuer.mint(roles, subject=subject, name=name or f"{role}@example.test", lifetime=minutes * 60))


if __name__ == "__main__":
    app()
