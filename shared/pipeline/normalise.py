"""Email and phone normalisation and syntax checks, without network."""

from __future__ import annotations

import re

# Pragmatic address syntax (what the five vendors accept): local part of printable non-space characters
# without quotes or angle brackets, a domain of dot-separated labels and an alphabetic TLD.
_EMAIL = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)
_PHONE_JUNK = str.maketrans("", "", " ()-./")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def normalise_email(raw: str) -> str:
    """Trim and lower-case (the address rule every vendor applies)."""
    return raw.strip().lower()


def email_problem(email: str) -> str | None:
    """Why ``email`` (already normalised) is not a usable address, or None when it is."""
    if not email:
        return "no email address"
    if len(email) > 254:
        return "email address longer than 254 characters"
    if _EMAIL.match(email) is None:
        return "malformed email address"
    return None


def normalise_phone(raw: str) -> tuple[str, str | None]:
    """(E.164 phone, problem). Vendors need the country code, so a number without ``+`` is refused
    rather than guessed."""
    phone = raw.strip()
    if not phone:
        return "", None
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    phone = phone.translate(_PHONE_JUNK)
    if _E164.match(phone) is None:
        return phone, "phone number must include the country code, e.g. +14155550100"
    return phone, None
