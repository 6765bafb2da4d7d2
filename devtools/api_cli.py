"""Command line for the admin API: ``python -m devtools.api_cli connections|exports|runs ...``.

The URL comes from ``--url`` or ``EXPORT_API_URL`` (default: the local server), the bearer token from
``--token`` or ``EXPORT_API_TOKEN`` (default: a development admin token from ``devtools.tokens``).
Credentials are read from standard input or a hidden prompt, never from the command line (shell
history keeps that).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import typer

app = typer.Typer(add_completion=False, help="Call the segment export admin API")
connections = typer.Typer(help="Connections: vendor credentials and who may use them")
exports = typer.Typer(help="Exports: what to send where")
runs = typer.Typer(help="Runs: start, watch, list, rejected rows, cancel")
app.add_typer(connections, name="connections")
app.add_typer(exports, name="exports")
app.add_typer(runs, name="runs")

DEFAULT_URL = "http://127.0.0.1:8080"
# Set by the callback below; read from the environment when the sub-commands are mounted elsewhere
# (e.g. under devtools.cli), where that callback does not run.
_state: dict[str, str] = {}


@app.callback()
def options(
    url: str = typer.Option(DEFAULT_URL, envvar="EXPORT_API_URL", help="the API's base URL"),
    token: str = typer.Option("", envvar="EXPORT_API_TOKEN", help="bearer token (default: a dev admin token)"),
) -> None:
    _state["url"] = url.rstrip("/")
    _state["token"] = token


def _url() -> str:
    return (_state.get("url") or os.environ.get("EXPORT_API_URL") or DEFAULT_URL).rstrip("/")


def _token() -> str:
    if not _state.get("token"):
        _state["token"] = os.environ.get("EXPORT_API_TOKEN", "")
    if not _state["token"]:
        from devtools.tokens import DevIssuer, load_or_create_key

        _state["token"] = DevIssuer(load_or_create_key()).mint(name="cli-admin@example.test")
    return _state["token"]


def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {_token()}", **kwargs.pop("headers", {})}
    try:
        response = httpx.request(method, _url() + path, headers=headers, timeout=60, **kwargs)
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach the API at {_url()}: {type(exc).__name__} (is `make api` running?)", err=True)
        raise typer.Exit(2) from None
    if response.status_code >= 400:
        try:
            problem = response.json()
            where = f" [{problem['field']}]" if problem.get("field") else ""
            typer.echo(f"{response.status_code} {problem.get('title')}: {problem.get('detail')}{where}", err=True)
        except ValueError:
            typer.echo(f"{response.status_code}: {response.text[:500]}", err=True)
        raise typer.Exit(1)
    return response


def show(response: httpx.Response) -> None:
    if response.content:
        typer.echo(json.dumps(response.json(), indent=2))


def _etag(path: str) -> str:
    return call("GET", path).headers["ETag"]


def _credential(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().strip()
    value: str = typer.prompt("Credential", hide_input=True)
    return value


# ---- connections -------------------------------------------------------------------------------


@connections.command("list")
def connections_list() -> None:
    show(call("GET", "/api/connections"))


@connections.command("get")
def connections_get(connection_id: str) -> None:
    show(call("GET", f"/api/connections/{connection_id}"))


@connections.command("create")
def connections_create(
    connection_id: str,
    vendor: str = typer.Option(..., help="sendgrid | mailchimp | brevo | omnisend | campaign_monitor"),
    name: str = typer.Option("", help="display name"),
    shared: bool = typer.Option(False, help="usable by contributors too"),
    accept_privacy: bool = typer.Option(False, "--accept-privacy", help="profiles leave the compliance boundary"),
    base_url: str = typer.Option("", help="a regional host or a simulator"),
    oauth: bool = typer.Option(False, help="no credential now: sign in with OAuth afterwards"),
    credential_stdin: bool = typer.Option(False, "--credential-stdin", help="read the credential from stdin"),
) -> None:
    body: dict[str, Any] = {
        "id": connection_id,
        "display_name": name or connection_id,
        "vendor": vendor,
        "usable_by": "admins_and_contributors" if shared else "admins",
        "privacy_consent_accepted": accept_privacy,
        "credential_kind": "oauth_token" if oauth else "api_key",
    }
    if base_url:
        body["base_url"] = base_url
    if not oauth:
        body["credential"] = _credential(credential_stdin)
    show(call("POST", "/api/connections", json=body))


@connections.command("rotate")
def connections_rotate(connection_id: str, credential_stdin: bool = typer.Option(False, "--credential-stdin")) -> None:
    path = f"/api/connections/{connection_id}"
    body = {"credential": _credential(credential_stdin)}
    show(call("PUT", f"{path}/credential", json=body, headers={"If-Match": _etag(path)}))


@connections.command("test")
def connections_test(connection_id: str, target: str, attribute: list[str] = typer.Option([])) -> None:  # noqa: B008
    show(call("POST", f"/api/connections/{connection_id}/test", json={"target_id": target, "attributes": attribute}))


@connections.command("delete")
def connections_delete(connection_id: str) -> None:
    path = f"/api/connections/{connection_id}"
    call("DELETE", path, headers={"If-Match": _etag(path)})
    typer.echo(f"deleted connection {connection_id}")


# ---- exports -----------------------------------------------------------------------------------


@exports.command("list")
def exports_list() -> None:
    show(call("GET", "/api/exports"))


@exports.command("get")
def exports_get(export_id: str) -> None:
    show(call("GET", f"/api/exports/{export_id}"))


@exports.command("create")
def exports_create(file: Path = typer.Argument(..., exists=True, help="the export as JSON")) -> None:  # noqa: B008
    show(call("POST", "/api/exports", json=json.loads(file.read_text(encoding="utf-8"))))


@exports.command("update")
def exports_update(export_id: str, file: Path = typer.Argument(..., exists=True)) -> None:  # noqa: B008
    path = f"/api/exports/{export_id}"
    body = json.loads(file.read_text(encoding="utf-8"))
    show(call("PUT", path, json=body, headers={"If-Match": _etag(path)}))


@exports.command("delete")
def exports_delete(export_id: str) -> None:
    path = f"/api/exports/{export_id}"
    call("DELETE", path, headers={"If-Match": _etag(path)})
    typer.echo(f"deleted export {export_id}")


# ---- runs --------------------------------------------------------------------------------------


@runs.command("start")
def runs_start(
    export_id: str,
    dry_run: bool = typer.Option(False, "--dry-run"),
    full_resync: bool = typer.Option(False, "--full-resync"),
    approve_mass_removal: bool = typer.Option(False, "--approve-mass-removal"),
    wait: bool = typer.Option(False, "--wait", help="watch the run until it ends"),
) -> None:
    body = {"dry_run": dry_run, "full_resync": full_resync, "approve_mass_removal": approve_mass_removal}
    response = call("POST", f"/api/exports/{export_id}/runs", json=body)
    typer.echo(f"started: {response.headers['Location']}")
    if wait:
        runs_watch(export_id, "current", 3600.0)


@runs.command("watch")
def runs_watch(export_id: str, run_id: str = typer.Argument("current"), timeout: float = 3600.0) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        view = call("GET", f"/api/exports/{export_id}/runs/{run_id}").json()
        line = f"{view['status']:<10} {view['step']:<11} {json.dumps(view.get('progress') or {})}"
        if line != last:
            typer.echo(line)
            last = line
        if view["status"] not in ("pending", "running") or time.monotonic() > deadline:
            typer.echo(json.dumps(view, indent=2))
            return
        time.sleep(0.5)


@runs.command("list")
def runs_list(export_id: str, limit: int = 20, before: str = "") -> None:
    params: dict[str, Any] = {"limit": limit, **({"before": before} if before else {})}
    show(call("GET", f"/api/exports/{export_id}/runs", params=params))


@runs.command("get")
def runs_get(export_id: str, run_id: str = typer.Argument("current")) -> None:
    show(call("GET", f"/api/exports/{export_id}/runs/{run_id}"))


@runs.command("rejected")
def runs_rejected(export_id: str, run_id: str = typer.Argument("current")) -> None:
    """Stream the run's rejected rows (CSV) to standard output."""
    with httpx.stream(
        "GET",
        f"{_url()}/api/exports/{export_id}/runs/{run_id}/rejected-rows",
        headers={"Authorization": f"Bearer {_token()}"},
        timeout=60,
    ) as response:
        if response.status_code != 200:
            response.read()
            typer.echo(f"{response.status_code}: {response.text[:500]}", err=True)
            raise typer.Exit(1)
        for chunk in response.iter_text():
            sys.stdout.write(chunk)


@runs.command("cancel")
def runs_cancel(export_id: str, run_id: str = typer.Argument("current")) -> None:
    show(call("POST", f"/api/exports/{export_id}/runs/{run_id}/cancel"))


if __name__ == "__main__":
    app()
