"""Remove a connection's credential from text that came from a vendor before it is logged or stored.

Vendors sometimes echo what they were sent: an error body quoting the ``Authorization`` header, a
request URL with the key in its query, a "key abc…xyz is invalid" message. So besides the secret as
it is, the scrubber looks for the forms it takes on the way: URL-encoded, JSON-escaped, base64 (a Basic
header carries ``user:key`` base64-encoded, so the key's bytes may start at any of three alignments),
and long pieces of it (a vendor that shows part of a key). Short or repetitive secrets are only matched
whole: their pieces would match ordinary text.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
MIN_SECRET = 6  # shorter values are not credentials; scrubbing them would shred ordinary text
PIECE = 12  # characters of a secret that, found alone, still give it away
MIN_PIECE_VARIETY = 6  # distinct characters a piece needs to be told apart from ordinary text


def _base64_cores(secret: bytes) -> set[str]:
    """The part of any base64 text that encodes ``secret`` whatever precedes it.

    Base64 works in 3-byte groups; with ``r`` bytes before the secret in its group, the characters
    of the groups made only of secret bytes are fixed, whatever the neighbours are.
    """
    cores: set[str] = set()
    for r in range(3):
        encoded = base64.b64encode(b"\0" * r + secret).decode()
        start = 4 if r else 0
        end = 4 * ((r + len(secret)) // 3)
        core = encoded[start:end]
        if len(core) >= 8:
            cores.add(core)
            cores.add(core.replace("+", "-").replace("/", "_"))  # the URL-safe alphabet
    return cores


def forms(secret: str) -> set[str]:
    """Every form of ``secret`` the scrubber removes."""
    if len(secret) < MIN_SECRET:
        return set()
    found = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    found |= _base64_cores(secret.encode())
    if len(secret) >= 2 * PIECE:
        for i in range(len(secret) - PIECE + 1):
            piece = secret[i : i + PIECE]
            if len(set(piece)) >= MIN_PIECE_VARIETY:
                found.add(piece)
    return {f for f in found if len(f) >= MIN_SECRET}


class Scrubber:
    """Callable: ``scrub(text)`` is ``text`` with every form of the secrets replaced by ``[redacted]``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        every: set[str] = set()
        for secret in secrets:
            every |= forms(secret)
        # Longest first, so a whole secret is replaced in one piece rather than piece by piece.
        alternatives = sorted(every, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(REDACTED, text)

    def leaks(self, text: str) -> bool:
        """Whether ``text`` holds any form of the secrets."""
        return self._pattern is not None and self._pattern.search(text) is not None


@functools.lru_cache(maxsize=16)
def scrubber(*secrets: str) -> Scrubber:
    """A (cached) scrubber for these secrets: building one compiles a pattern."""
    return Scrubber(secrets)


def scrub_document(document: Any, scrub: Callable[[str], str]) -> Any:
    """``document`` (parsed JSON) with every string scrubbed, keys included."""
    if isinstance(document, str):
        return scrub(document)
    if isinstance(document, list):
        return [scrub_document(item, scrub) for item in document]
    if isinstance(document, dict):
        return {scrub(str(k)): scrub_document(v, scrub) for k, v in document.items()}
    return document


def connection_scrubber(secrets: object, secret_name: str) -> Scrubber:
    """The scrubber for a connection's credential, read from the secret store (``SecretStore``).

    A credential that can no longer be read (deleted, rotated away) cannot be searched for; text is
    then stored as it is, which is the best that can be done.
    """
    from shared.errors import NotFound

    try:
        value = secrets.get(secret_name).get_secret_value()  # type: ignore[attr-defined]
    except NotFound:
        return scrubber()
    return scrubber(value)
