"""Reading a vendor's per-row report file (SendGrid's job error file, Brevo's import reports).

Report files live on download hosts: they are fetched without the credential. A report that cannot be
downloaded or read leaves the rows it would have named undetermined, and the caller reports them
``failed`` with the reason returned here — never assumed accepted.
"""

from __future__ import annotations

import csv
import io

import httpx

EMAIL_COLUMNS = ("email", "email_address", "emailaddress", "contact_email")
REASON_COLUMNS = ("error", "errors", "message", "reason", "error_message")


async def download(client: httpx.AsyncClient, url: str, what: str) -> tuple[str | None, str | None]:
    """(text, None), or (None, why it could not be downloaded)."""
    try:
        response = await client.get(url)
    except httpx.HTTPError as exc:
        return None, f"{what} could not be downloaded ({type(exc).__name__})"
    if response.status_code >= 400:
        return None, f"{what} could not be downloaded (HTTP {response.status_code})"
    return response.text, None


def emails_in_csv(text: str, what: str) -> tuple[dict[str, str], str | None]:
    """email → the row's reason column ('' when there is none), or the reason the file is unreadable.

    Comma- or semicolon-separated (Brevo writes ``;``), with a header naming an email column; a file of
    one column without a header is read as one address per line."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines:
        return {}, None
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    try:
        reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
        header = [name.strip().lower() for name in next(reader)]
        email_at = next((header.index(c) for c in EMAIL_COLUMNS if c in header), None)
        reason_at = next((header.index(c) for c in REASON_COLUMNS if c in header), None)
        rows = list(reader)
    except csv.Error as exc:
        return {}, f"{what} is not valid CSV ({exc})"
    if email_at is None:
        if len(header) == 1 and "@" in header[0]:
            return {line.strip().lower(): "" for line in lines if line.strip()}, None
        return {}, f"{what} has no email column"
    found: dict[str, str] = {}
    for row in rows:
        if len(row) > email_at and row[email_at].strip():
            reason = row[reason_at].strip() if reason_at is not None and len(row) > reason_at else ""
            found[row[email_at].strip().lower()] = reason
    return found, None
