"""Dependency audit for `make test`: pip-audit over requirements.txt, honest about what it could check.

pip-audit looks each package up in an advisory database (PyPI's JSON API by default, or OSV). When that
database cannot be reached it marks every package "could not be audited" and still prints "No known
vulnerabilities found" and exits 0, which reads like a pass. This script reads pip-audit's JSON report
instead and says which of three things happened:

- it ran for every package: findings printed, exit 1 on any, else a pass naming how many were checked;
- it ran for none: ``dependency audit: NOT RUN — advisory database unreachable (<reason>)``, exit 0
  (not a pass: nothing was checked, and the build should not fail for a network it does not have);
- it ran for some: findings (exit 1 on any) and the packages not checked, named.

Usage: ``python -m devtools.audit [-r requirements.txt] [--no-deps] [--service pypi|osv]``.
``--no-deps`` audits only the pinned lines (seconds) instead of resolving the whole dependency tree.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess  # nosec B404 - runs pip-audit from this venv with a fixed argument list
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

# What pip-audit asks each service (pip_audit/_service): PyPI's per-release JSON, OSV's query API.
PROBES = {"pypi": "https://pypi.org/pypi/{name}/{version}/json", "osv": "https://api.osv.dev/v1/query"}


def _pip_audit(requirements: str, *, no_deps: bool, service: str) -> tuple[int, str, str]:
    executable = Path(sys.executable).with_name("pip-audit")
    command = [str(executable), "-r", requirements, "-f", "json", "--progress-spinner", "off", "-s", service]
    if no_deps:
        command += ["--no-deps", "--disable-pip"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)  # noqa: S603  # nosec B603
    return done.returncode, done.stdout, done.stderr


def _probe(service: str, dependency: dict[str, Any]) -> str:
    """Why the advisory database did not answer, in words (one request, 10 s at most)."""
    name = dependency["name"]
    version = re.search(r"\(([^()]+)\)\s*$", dependency.get("skip_reason", ""))
    url = PROBES[service].format(name=name, version=version.group(1) if version else "")
    data = json.dumps({"package": {"name": name, "ecosystem": "PyPI"}}).encode() if service == "osv" else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # nosec B310 - fixed https URL
            return f"{url} answered {response.status}, yet pip-audit could not use it"
    except urllib.error.HTTPError as exc:
        return f"{url} answered HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return f"{url} unreachable: {getattr(exc, 'reason', exc)}"


def summarise(report: dict[str, Any], service: str) -> tuple[int, list[str]]:
    """(exit code, lines to print) for pip-audit's JSON report."""
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = [d for d in dependencies if not d.get("skip_reason")]
    findings = [(d, v) for d in audited for v in d.get("vulns", [])]
    lines = [
        f"{d['name']} {d.get('version', '')}: {v.get('id')} {' '.join(v.get('aliases', []))} "
        f"fixed in {', '.join(v.get('fix_versions', [])) or 'no release yet'}"
        for d, v in findings
    ]
    if dependencies and not audited:
        reason = _probe(service, skipped[0])
        lines.append(f"dependency audit: NOT RUN — advisory database unreachable ({reason})")
        return 0, lines
    if skipped:
        names = ", ".join(d["name"] for d in skipped)
        lines.append(f"dependency audit: INCOMPLETE — {len(skipped)} of {len(dependencies)} not checked: {names}")
    if findings:
        lines.append(f"dependency audit: FAILED — {len(findings)} known vulnerabilities in {len(audited)} packages")
        return 1, lines
    lines.append(f"dependency audit: no known vulnerabilities in the {len(audited)} packages checked ({service})")
    return 0, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("-r", "--requirements", default="requirements.txt")
    parser.add_argument("--no-deps", action="store_true", help="audit the pinned lines only")
    parser.add_argument("--service", choices=sorted(PROBES), default="pypi")
    options = parser.parse_args(argv)
    code, out, err = _pip_audit(options.requirements, no_deps=options.no_deps, service=options.service)
    try:
        report = json.loads(out)
    except json.JSONDecodeError:
        last = (err.strip().splitlines() or [f"pip-audit exited {code} without a report"])[-1]
        print(f"dependency audit: NOT RUN — advisory database unreachable ({last})")
        return 0
    status, lines = summarise(report, options.service)
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
