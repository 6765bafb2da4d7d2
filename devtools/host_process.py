"""A Functions host process of its own, for drills that kill it: ``python -m devtools.host_process``.

It wires the app to existing containers (Azurite) and an existing vendor (a simulator's URL, stored in
the connection), keeps the Durable history in Blob Storage (``BlobHistoryStore``) and either starts an
export's run or resumes an instance from its stored history — as a restarted Functions host picks up
the instances its storage provider holds. Every host event is printed as one JSON line, so a test can
kill the process (SIGKILL) at a chosen moment.

Settings come from the environment (``EXPORT_*``, as in Azure); the connection's credential is put
into the Key Vault stand-in from ``HOST_PROCESS_SECRET`` (this process's vault is in memory).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from pydantic import SecretStr

from devtools.durable_host import BlobHistoryStore, LocalDurableHost
from shared.orchestration.names import ORCHESTRATOR, instance_id_for
from shared.runtime import Runtime, set_runtime
from shared.secrets import KeyVaultSecretStore
from shared.settings import load_settings
from shared.storage import BlobStore
from simulators.keyvault import KeyVaultStandIn, TestCredential


def _print(kind: str, payload: dict[str, Any]) -> None:
    print(json.dumps({"event": kind, **payload}, default=str), flush=True)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", metavar="EXPORT_ID")
    parser.add_argument("--resume", metavar="INSTANCE_ID")
    parser.add_argument("--secret-name", default="conn-main")
    args = parser.parse_args(argv)

    settings = load_settings()
    store = BlobStore.connect(settings, settings.container)
    segments = BlobStore.connect(settings, settings.segments_container)
    vault = KeyVaultStandIn(settings.key_vault_url or "https://segment-export.vault.azure.net")
    secrets = KeyVaultSecretStore(vault.vault_url, TestCredential(vault.token), transport=vault)
    secrets.set(args.secret_name, SecretStr(os.environ["HOST_PROCESS_SECRET"]))
    set_runtime(Runtime(settings=settings, store=store, segments=segments, secrets=secrets))

    host = LocalDurableHost(
        activity_width=settings.max_activity_width,
        on_event=_print,
        history=BlobHistoryStore(store, settings.task_hub),
    )
    if args.start:
        instance = await host.run(ORCHESTRATOR, instance_id_for(args.start), {"export_id": args.start})
    elif args.resume:
        instance = await host.resume(args.resume)
    else:
        parser.error("give --start EXPORT_ID or --resume INSTANCE_ID")
    _print("done", {"status": instance.status.value, "custom_status": instance.custom_status})
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
