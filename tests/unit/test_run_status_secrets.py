"""The scrubber removes a credential in every form a vendor might echo it, and only that."""

from __future__ import annotations

import base64
from urllib.parse import quote

from shared.scrub import REDACTED, Scrubber

CANARY = "SG.cAnArY7x2Q9wLm4Rt8Zp1Vb.K3nJ6hF0dS5aY2uE9iO4pW7qT1rX8zC6vB3mN0lK5"


def test_every_form_of_the_secret_is_removed() -> None:
    scrub = Scrubber([CANARY])
    echoes = [
        f'{{"errors":[{{"message":"bad key {CANARY}"}}]}}',
        f"GET /v3?api_key={quote(CANARY, safe='')}",
        f"Authorization: Bearer {CANARY}",
        f"key ...{CANARY[20:40]}... is not valid",  # a piece of it
    ]
    for prefix in ("", "a", "ab"):  # base64 of user:key, the key at each of the three byte alignments
        echoes.append("Basic " + base64.b64encode(f"{prefix}apikey:{CANARY}".encode()).decode())
    for text in echoes:
        cleaned = scrub(text)
        assert REDACTED in cleaned and not scrub.leaks(cleaned), cleaned
        assert CANARY[10:22] not in cleaned


def test_ordinary_text_and_short_or_repetitive_secrets_are_left_alone() -> None:
    scrub = Scrubber(["SG." + "s" * 22 + "." + "k" * 43, "abc"])
    text = "sendgrid refused contact abc@example.com: kkkk is not a valid name"
    assert scrub(text) == text
    assert Scrubber([])(text) == text
