"""The fault matrix's scenarios: one export per (vendor, fault profile) and one per vendor with hostile
input, each followed by a clean rerun, measured the same way and recorded for the table that
``tests/reliability/conftest.py`` prints at the end of the session.

What a scenario measures (``Result``):

- **profiles in**: data rows in the segment files; **outcomes out**: the outcomes of the faulted run's
  report plus the rows of the files it held back; **profiles lost**: in − out, for the faulted run and
  the rerun (both read the same files), added up;
- **faults injected**: the simulator's faulted answers (``sim.faults_answered``) plus the asynchronous
  jobs that ended as the profile planned (failed, stalled, vanished);
- **rows sent more than needed**: emails the vendor accepted for upsert more than once over both runs
  (``sim.upserted_emails()``, as the kill -9 drill counts them), bounded by one batch per faulted
  request: a request whose answer never arrived, or said "try again", is sent again whole;
- **secrets leaked**: places holding any form of the canary credential (``shared.scrub.Scrubber``: as it
  is, URL-encoded, base64, long pieces): blobs of the run's containers, log records at DEBUG (with
  their exception text), the orchestration instances (history, output, custom status, error) and the
  reports' errors;
- **final list equal**: the list read back through the vendor's own read endpoints
  (``simulators.readback``) after the rerun is exactly the expected set;
- **unsubscribed re-subscribed**: contacts that had unsubscribed in the vendor before the first run and
  read back as subscribed after the rerun.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import string
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from destinations import destination_class
from devtools.azurite import Azurite
from devtools.durable_host import Instance
from devtools.local_env import DEFAULT_MAPPING, LocalEnv, local_env
from shared.models import RunReport
from shared.scrub import Scrubber
from simulators.base import BaseSimulator
from simulators.omnisend import email_of as omnisend_email
from simulators.readback import read_back

# Vendor time runs 10× faster in the simulators and in the pipeline's pacing, retries and polling.
TIME_SCALE = 0.1
PROFILES = 600  # a few hundred profiles: one partition, several batches for Mailchimp and Omnisend
SLOW_SECONDS = 3.0  # a slow answer arrives after this (simulator time is not scaled for it) …
REQUEST_TIMEOUT = 2.0  # … which is past the client's timeout
SETTINGS: dict[str, Any] = {
    "rows_per_partition": 1000,
    "first_poll_seconds": 0.2,
    "max_poll_seconds": 0.5,
    "vendor_time_scale": TIME_SCALE,
    "poll_give_up_seconds": 15.0,  # a stalled or vanished job is given up after 1.5 s of real time
    "request_timeout_seconds": REQUEST_TIMEOUT,
    "vendor_retry_max_seconds": 100.0,  # 10 s of real time
    "activity_retry_interval_seconds": 0.1,
}
SIMULATOR = {"job_delay": 0.05, "time_scale": TIME_SCALE}
SUBSCRIBED = {"subscribed", "active"}  # the read-back's word for a subscribed contact (Campaign Monitor: Active)
UNSUBSCRIBED_BEFORE = 3  # contacts of the expected set that unsubscribed in the vendor before the run
# Job states where some rows are kept and others refused: the run then reads the job's error file.
KEEPS_SOME = {"sendgrid": "errored", "brevo": "completed"}
REFUSED = 3

log = logging.getLogger(__name__)


@dataclass
class Result:
    scenario: str
    vendor: str
    faults: int = 0
    profiles_in: int = 0
    outcomes_out: int = 0
    lost: int = 0
    sent_twice: int = 0
    sent_twice_bound: int = 0
    secrets_leaked: int = 0
    list_equal: bool = False
    resubscribed: int = 0
    statuses: str = ""
    seconds: float = 0.0
    leaks: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)


RESULTS: list[Result] = []


def canary(vendor: str, seed: str) -> str:
    """A credential no one else uses, in the vendor's key shape (Mailchimp's data center follows its dash)."""
    rng = random.Random(f"{vendor}/{seed}")
    alnum = string.ascii_letters + string.digits

    def pick(n: int, alphabet: str = alnum) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    hexdigits = "0123456789abcdef"
    return {
        "sendgrid": f"SG.{pick(22)}.{pick(43)}",
        "mailchimp": f"{pick(32, hexdigits)}-us21",
        "brevo": f"xkeysib-{pick(64, hexdigits)}-{pick(16)}",
        "omnisend": f"{pick(24, hexdigits)}-{pick(48)}",
        "campaign_monitor": pick(48),
    }[vendor]


def upsert_route(vendor: str, target: str) -> tuple[str, str]:
    """(path part, method) of the request that adds or updates contacts: where faults hurt most."""
    return {
        "sendgrid": ("/v3/marketing/contacts", "PUT"),
        "mailchimp": (f"/3.0/lists/{target}", "POST"),
        "brevo": ("/v3/contacts/import", "POST"),
        "omnisend": ("/api/batches", "POST"),
        "campaign_monitor": ("/import.json", "POST"),
    }[vendor]


def inject(sim: BaseSimulator, profile: str, target: str, refuse: Iterable[str]) -> int:
    """Switch the fault on; returns the number of jobs planned to end badly (job profiles)."""
    path, method = upsert_route(sim.vendor, target)
    on_upserts: dict[str, Any] = {"path_contains": path, "method": method}
    if profile == "rate_limit_storm":
        sim.scenario.fault(profile, times=3, seconds=1, **on_upserts)
    elif profile == "server_error_burst":
        sim.scenario.fault(profile, times=3, status=503, **on_upserts)
    elif profile == "slow_answers":
        sim.scenario.fault(profile, times=2, seconds=SLOW_SECONDS, **on_upserts)
    elif profile == "connection_reset":
        # The worst kind: the vendor applied the request, the client saw the connection drop.
        sim.scenario.fault(profile, times=3, apply=True, **on_upserts)
    elif profile == "malformed_json":
        sim.scenario.fault(profile, times=3, **on_upserts)
    elif profile in ("job_fails", "job_stalls", "job_vanishes"):
        sim.scenario.fault(profile, times=2)
        return 2
    elif profile == "error_file_unavailable":
        # Some rows refused, so the run must read the job's error file; the download answers 403.
        sim.scenario.next_job(KEEPS_SOME[sim.vendor], reject=dict.fromkeys(refuse, "refused for the test"), times=50)
        sim.scenario.fault(profile, times=3)
    else:
        raise ValueError(f"no scenario for fault profile {profile!r}")
    return 0


def jobs_left(sim: BaseSimulator) -> int:
    """Planned job endings no job reached (drains them)."""
    return sum(1 for _ in iter(sim.scenario.take_job_plan, None))


def batch_size(vendor: str, profiles: int) -> int:
    """The most contacts one upsert request carries in these scenarios."""
    return min(destination_class(vendor).limits.upsert_batch_items, profiles)


# Requests a retry of one unacknowledged batch justifies. Mailchimp: the adapter first creates members
# (existing ones untouched, so a status is never overwritten), then updates those Mailchimp says exist;
# a batch the vendor applied before the client lost the answer is created again (refused: they exist)
# and then updated — two sends of the same rows.
SENDS_PER_RETRY = {"mailchimp": 2}


def resend_bound(vendor: str, faults: int, profiles: int) -> int:
    """Rows that may be sent more than once: one batch (per the vendor's protocol) per faulted request."""
    return faults * SENDS_PER_RETRY.get(vendor, 1) * batch_size(vendor, profiles)


@contextmanager
def scenario_env(vendor: str, azurite: str, settings: dict[str, Any]) -> Iterator[LocalEnv]:
    """``local_env`` whose blob clients are closed after it: their pooled keep-alive sockets would
    otherwise be collected later, unclosed, and fail whichever test is running then (ResourceWarning)."""
    stores: list[Any] = []
    try:
        with local_env(vendor, azurite, simulator_options=SIMULATOR, settings=settings) as env:
            stores += [env.runtime.store, env.runtime.segments]
            yield env
    finally:
        for store in stores:
            store.container.close()


def received_for_upsert(sim: BaseSimulator, target: str) -> list[str]:
    """Emails in every add/update request the vendor received, whatever it answered (one entry per time).

    Not ``sim.upserted_emails()``, which counts accepted answers only: a request the vendor applied and
    then cut the connection on (``connection_reset`` with ``apply``) is recorded with the reset's status,
    and it is exactly the kind of send a rerun may repeat."""
    path, method = upsert_route(sim.vendor, target)
    with sim.lock:
        requests = [r for r in sim.requests if r.method == method and path in r.path]
    emails: list[str] = []
    for request in requests:
        if sim.vendor == "mailchimp" and request.path.rstrip("/") != path:
            continue  # /3.0/lists/{id}/… sub-resources are not the batch subscribe
        try:
            body = request.json()
        except ValueError:
            continue
        items = body.get(UPSERT_ITEMS[sim.vendor][0], []) if isinstance(body, dict) else []
        emails += [email_in(sim.vendor, item) for item in items]
    return emails


# Where an upsert request's contacts are, and each contact's email.
UPSERT_ITEMS = {
    "sendgrid": ("contacts", "email"),
    "mailchimp": ("members", "email_address"),
    "brevo": ("jsonBody", "email"),
    "omnisend": ("items", ""),
    "campaign_monitor": ("Subscribers", "EmailAddress"),
}


def email_in(vendor: str, item: dict[str, Any]) -> str:
    if vendor == "omnisend":
        return omnisend_email(item)  # the email identifier of a ContactRequest
    return str(item.get(UPSERT_ITEMS[vendor][1], "")).lower()


def sent_more_than_once(sim: BaseSimulator, target: str) -> int:
    """Sends beyond the first of each email over both runs (raw: refused sends count too)."""
    return sum(count - 1 for count in Counter(received_for_upsert(sim, target)).values() if count > 1)


def out_of(report: RunReport | None) -> int:
    """Rows a run accounts for: one outcome each, or a held-back file that names them."""
    if report is None:
        return 0  # no report: nothing is accounted for
    return report.outcomes.total() + sum(h.rows for h in report.held_back)


def simulator_of(env: LocalEnv) -> BaseSimulator:
    assert isinstance(env.simulator, BaseSimulator), "the matrix runs its simulators in-process"
    return env.simulator


def suppress_some(env: LocalEnv, expected: Iterable[str]) -> list[str]:
    """Make a few expected contacts existing members of the list that unsubscribed."""
    chosen = sorted(expected)[:UNSUBSCRIBED_BEFORE]
    for email in chosen:
        simulator_of(env).suppress(email, env.target_id)
    return chosen


def read_list(env: LocalEnv, key: str, emails: Iterable[str]) -> dict[str, str]:
    """The vendor's list through its own read endpoints (SendGrid can only look emails up)."""
    sim = env.simulator
    wanted = set(emails) if env.vendor == "sendgrid" else None
    return read_back(env.vendor, sim.url, key, env.target_id, wanted)


def leaks(
    scrubber: Scrubber,
    env: LocalEnv,
    records: Iterable[logging.LogRecord],
    instances: Iterable[Instance],
    reports: Iterable[RunReport | None],
    output: str,
) -> list[str]:
    """Where any form of the canary was found."""
    found: list[str] = []
    for store in (env.runtime.store, env.runtime.segments):
        for name in store.list_names(""):
            if scrubber.leaks(store.read_bytes(name).decode("utf-8", "replace")):
                found.append(f"blob {store.container.container_name}/{name}")
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in records:
        text = formatter.format(record) + " " + repr({k: v for k, v in vars(record).items() if k != "exc_info"})
        if scrubber.leaks(text):
            found.append(f"log record {record.name}: {scrubber(record.getMessage())[:200]}")
    for instance in instances:
        if scrubber.leaks(json.dumps(instance.to_json(), default=str)):
            found.append(f"orchestration instance {instance.instance_id} (history, output or error)")
    for report in reports:
        if report is not None and any(scrubber.leaks(e) for e in report.errors):
            found.append(f"report {report.run_id} errors")
    if scrubber.leaks(output):
        found.append("captured stdout/stderr")
    return found


def render(results: list[Result]) -> list[str]:
    """The table, with a totals row."""
    head = (
        "scenario",
        "vendor",
        "faults injected",
        "profiles in",
        "outcomes out",
        "profiles lost",
        "rows sent more than needed",
        "secrets leaked",
        "final list equal",
        "unsubscribed re-subscribed",
        "status (faulted → rerun)",
        "seconds",
    )
    rows = [
        (
            r.scenario,
            r.vendor,
            str(r.faults),
            str(r.profiles_in),
            str(r.outcomes_out),
            str(r.lost),
            f"{r.sent_twice} (≤ {r.sent_twice_bound})",
            str(r.secrets_leaked),
            "yes" if r.list_equal else "NO",
            str(r.resubscribed),
            r.statuses,
            f"{r.seconds:.1f}",
        )
        for r in results
    ]
    equal = sum(r.list_equal for r in results)
    rows.append(
        (
            f"TOTAL ({len(results)} scenarios)",
            "",
            str(sum(r.faults for r in results)),
            str(sum(r.profiles_in for r in results)),
            str(sum(r.outcomes_out for r in results)),
            str(sum(r.lost for r in results)),
            str(sum(r.sent_twice for r in results)),
            str(sum(r.secrets_leaked for r in results)),
            f"{equal}/{len(results)} yes",
            str(sum(r.resubscribed for r in results)),
            "",
            f"{sum(r.seconds for r in results):.1f}",
        )
    )
    widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    return [line(head), rule, *(line(r) for r in rows[:-1]), rule, line(rows[-1])]


def record(result: Result, started: float) -> Result:
    result.seconds = time.monotonic() - started
    RESULTS.append(result)
    return result


def mapping_for_hostile(vendor: str) -> dict[str, str]:
    """The vendor's demo mapping without columns the hostile files never have (Brevo's phone)."""
    hostile_columns = {"email", "first_name", "last_name", "city", "country"}
    return {a: c for a, c in DEFAULT_MAPPING[vendor].items() if c in hostile_columns}


class StorageFreeze:
    """``on_event`` of the Durable host: when the orchestration schedules ``activity`` (the first time,
    while armed), the Azurite process is stopped (SIGSTOP) for ``seconds``, then continued (SIGCONT) by a
    timer — storage that stops answering for a while, mid-stage or mid-commit, and comes back with its
    data (a killed Azurite may lose writes it has not saved yet, which is a different scenario)."""

    def __init__(self, pid: int, activity: str, seconds: float) -> None:
        self.pid = pid
        self.activity = activity
        self.seconds = seconds
        self.armed = True
        self.freezes = 0
        self._timer: threading.Timer | None = None

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        if not self.armed or kind != "scheduled" or payload.get("name") != self.activity or self.freezes:
            return
        os.kill(self.pid, signal.SIGSTOP)
        self.freezes += 1
        self._timer = threading.Timer(self.seconds, self.thaw)
        self._timer.start()

    def thaw(self) -> None:
        try:
            os.kill(self.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        """Bounded: whatever happened, the process is left running."""
        self.armed = False
        if self._timer is not None:
            self._timer.cancel()
        self.thaw()


@contextmanager
def frozen_storage_env(vendor: str, azurite: Azurite, freeze: StorageFreeze) -> Iterator[LocalEnv]:
    """``scenario_env`` on a private Azurite whose process ``freeze`` stops for a while."""
    stores: list[Any] = []
    try:
        with local_env(
            vendor, azurite.connection_string, simulator_options=SIMULATOR, settings=SETTINGS, on_event=freeze
        ) as env:
            stores += [env.runtime.store, env.runtime.segments]
            yield env
    finally:
        freeze.close()
        for store in stores:
            store.container.close()
