"""One local environment: Azurite containers, a vendor simulator, the Key Vault stand-in, the runtime
and the in-process Durable host — wired exactly as the function app is wired in Azure."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from destinations import vendor_profile, vendors
from devtools.durable_host import BlobHistoryStore, Instance, LocalDurableHost
from devtools.secret_relay import SecretRelay
from devtools.worker_pool import PoolRuntime, WorkerPoolDispatch
from shared.config_store import ConfigStore
from shared.models import Connection, Export, RunReport
from shared.orchestration.names import ORCHESTRATOR, instance_id_for
from shared.runtime import Runtime, set_runtime
from shared.secrets import KeyVaultSecretStore
from shared.settings import load_settings
from shared.storage import BlobStore
from simulators import simulator_class
from simulators.base import BaseSimulator
from simulators.keyvault import KeyVaultStandIn, TestCredential
from simulators.readback import read_back
from simulators.remote import RemoteSimulator

# Each vendor declares its demo mapping in its own package (destinations/<vendor>/profile.py).
DEFAULT_MAPPING: dict[str, dict[str, str]] = {v: dict(vendor_profile(v).demo_mapping) for v in vendors()}


@dataclass
class LocalEnv:
    vendor: str
    runtime: Runtime
    configs: ConfigStore
    simulator: BaseSimulator | RemoteSimulator  # RemoteSimulator: in a child process (the benchmark)
    keyvault: KeyVaultStandIn
    host: LocalDurableHost
    target_id: str
    reports: list[RunReport] = field(default_factory=list)

    def add_connection(self, connection_id: str = "main", **overrides: Any) -> Connection:
        secret_name = f"conn-{connection_id}"
        self.runtime.secrets.set(secret_name, SecretStr(overrides.pop("secret", self.simulator.api_key)))
        connection = Connection(
            id=connection_id,
            display_name=overrides.pop("display_name", f"{self.vendor} (local)"),
            vendor=self.vendor,
            secret_name=secret_name,
            privacy_consent_accepted=True,
            base_url=self.simulator.url,
            **overrides,
        )
        self.configs.put_connection(connection)
        return connection

    def add_export(self, export_id: str = "weekly", segments: list[str] | None = None, **overrides: Any) -> Export:
        export = Export(
            id=export_id,
            name=overrides.pop("name", f"{export_id} to {self.vendor}"),
            connection_id=overrides.pop("connection_id", "main"),
            target_id=overrides.pop("target_id", self.target_id),
            field_mapping=overrides.pop("field_mapping", DEFAULT_MAPPING[self.vendor]),
            segments=segments or ["segments/vip-customers", "segments/newsletter"],
            **overrides,
        )
        self.configs.put_export(export)
        return export

    def update_export(self, export_id: str, **changes: Any) -> Export:
        export, etag = self.configs.get_export(export_id)
        updated = export.model_copy(update=changes)
        self.configs.put_export(Export.model_validate(updated.model_dump()), if_match=etag)
        return updated

    async def run(self, export_id: str, **request: Any) -> tuple[Instance, RunReport | None]:
        """Run an export on demand through the in-process host; returns the instance and its report."""
        instance_id = instance_id_for(export_id)
        payload = {"export_id": export_id, "trigger": request.pop("trigger", "on_demand"), **request}
        instance = await self.host.run(ORCHESTRATOR, instance_id, payload)
        return instance, self.report_of(instance)

    def read_back(self, emails: Iterable[str] | None = None) -> dict[str, str]:
        """The export's list as the vendor's own read endpoints give it ({email: the vendor's status
        word}), read as an integrator would, not through the simulator's internals."""
        return read_back(self.vendor, self.simulator.url, self.simulator.api_key, self.target_id, emails)

    def report_of(self, instance: Instance) -> RunReport | None:
        """The run's report: named by the output of a run that completed, found through the run id in
        the custom status of one that failed (its output is then the failure text)."""
        output = instance.output if isinstance(instance.output, dict) else {}
        name = output.get("report")
        if name is None:
            run_id = (instance.custom_status or {}).get("run_id")
            export_id = (instance.input or {}).get("export_id")
            if not run_id or not export_id:
                return None
            name = f"runs/{export_id}/{run_id}/report.json"
        document = self.runtime.store.read_json_or_none(name)
        if document is None:
            return None
        report = RunReport.model_validate(document)
        self.reports.append(report)
        return report


@contextmanager
def local_env(
    vendor: str,
    connection_string: str,
    *,
    simulator_options: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
    simulator_process: bool = False,
    persist_history: bool = False,
    worker_processes: int | None = 1,
) -> Iterator[LocalEnv]:
    """Fresh containers in the given Azurite, a started simulator and a host; all torn down after.

    ``worker_processes``: as ``FUNCTIONS_WORKER_PROCESS_COUNT``, the CPU-bound activities run in that many
    worker processes (``None``: one per core; 1: everything in this process, as the tests run)."""
    suffix = uuid.uuid4().hex[:10]
    options = {
        "storage_connection_string": connection_string,
        "container": f"exports-{suffix}",
        "segments_container": f"segments-{suffix}",
        "key_vault_url": "https://segment-export.vault.azure.net",
        # Durable retries locally: attempts as configured, but no 15-second waits between them.
        "activity_retry_interval_seconds": 0.2,
        **(settings or {}),
    }
    loaded = load_settings(**options)
    store = BlobStore.connect(loaded, loaded.container)
    segments = BlobStore.connect(loaded, loaded.segments_container)
    store.ensure_container()
    segments.ensure_container()
    keyvault = KeyVaultStandIn(loaded.key_vault_url or "")
    secrets = KeyVaultSecretStore(keyvault.vault_url, TestCredential(keyvault.token), transport=keyvault)
    runtime = Runtime(settings=loaded, store=store, segments=segments, secrets=secrets)
    set_runtime(runtime)
    simulator: BaseSimulator | RemoteSimulator = (
        RemoteSimulator(vendor, **(simulator_options or {}))
        if simulator_process
        else simulator_class(vendor)(**(simulator_options or {}))
    )
    simulator.start()
    # The host hands app settings to the worker as environment variables (Core Tools reads them from
    # local.settings.json): the function app checks them when it loads, so the required ones are set.
    os.environ.setdefault("EXPORT_STORAGE_CONNECTION_STRING", connection_string)
    os.environ.setdefault("EXPORT_KEY_VAULT_URL", loaded.key_vault_url or "")
    # Every function runs through the real worker runtime (devtools.functions_worker), as in Azure. Pool
    # processes get this runtime's settings (the containers above are not in the environment) and reach
    # the in-memory Key Vault stand-in through the relay.
    pooled = (worker_processes if worker_processes is not None else os.cpu_count() or 1) > 1
    relay = SecretRelay(secrets) if pooled else None
    dispatch = WorkerPoolDispatch(
        worker_processes,
        setup=PoolRuntime(loaded, relay.address, relay.authkey) if relay is not None else None,
    )
    host = LocalDurableHost(
        dispatch,
        activity_width=loaded.max_activity_width,
        on_event=on_event,
        history=BlobHistoryStore(store, loaded.task_hub) if persist_history else None,
    )
    try:
        target_id = simulator.create_target()
        yield LocalEnv(vendor, runtime, ConfigStore(store), simulator, keyvault, host, target_id)
    finally:
        host.close()
        dispatch.close()
        if relay is not None:
            relay.close()
        simulator.stop()
        set_runtime(None)
        for blob_store in (store, segments):
            try:
                blob_store.container.delete_container()
            except Exception:  # noqa: S110 - best-effort cleanup of a throwaway container
                pass
            blob_store.container.close()  # its pooled sockets, or a ResourceWarning fails a later test
