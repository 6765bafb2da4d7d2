"""Microsoft Entra ID bearer tokens: signature (JWKS), issuer, audience, expiry, not-before; app roles.

PyJWT verifies; this module only fetches and caches the key set. The key set is fetched with httpx
(async, so a slow identity provider never blocks the event loop), kept for ``JWKS_CACHE_SECONDS``
and fetched again when a token names a key id it does not hold — the way Entra ID rolls keys — but
not more often than ``JWKS_MIN_REFRESH_SECONDS`` (``shared.api.settings``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from jwt import PyJWK, PyJWKSet

from shared.api.problems import ApiProblem

LOG = logging.getLogger("segment_export.api.auth")

ADMIN = "Exports.Admin"
CONTRIBUTOR = "Exports.Contributor"
ALGORITHMS = ["RS256"]
MAX_TOKEN_CHARS = 8192
CHALLENGE = 'Bearer realm="segment-export"'


@dataclass(frozen=True)
class Principal:
    """The caller, from the validated token."""

    id: str  # oid (Entra object id) or sub
    name: str  # preferred_username / upn / app id: what created_by and updated_by record
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def is_contributor(self) -> bool:
        return CONTRIBUTOR in self.roles


class Unauthenticated(ApiProblem):
    def __init__(self, detail: str, *, error: str | None = "invalid_token") -> None:
        challenge = CHALLENGE + (f', error="{error}"' if error else "")
        super().__init__(401, detail, field="header.Authorization", headers={"WWW-Authenticate": challenge})


class KeySet:
    """The identity provider's signing keys, cached and refreshed on an unknown key id."""

    def __init__(self, url: str, *, ttl: float, min_refresh: float, timeout: float = 10.0) -> None:
        self.url = url
        self.ttl = ttl
        self.min_refresh = min_refresh
        self.timeout = timeout
        self.fetches = 0
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def _fetch(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            response = await client.get(self.url)
            response.raise_for_status()
            document = response.json()
        key_set = PyJWKSet.from_dict(document)
        self._keys = {str(key.key_id): key for key in key_set.keys if key.key_id}
        self._fetched_at = time.monotonic()
        self.fetches += 1

    async def key(self, kid: str) -> PyJWK | None:
        """The key with this id, or None. Raises ApiProblem 503 when the key set cannot be fetched."""
        async with self._lock:
            now = time.monotonic()
            stale = self._fetched_at is None or now - self._fetched_at > self.ttl
            unknown = kid not in self._keys and (self._fetched_at is None or now - self._fetched_at >= self.min_refresh)
            if stale or unknown:
                try:
                    await self._fetch()
                except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
                    LOG.warning("signing keys could not be fetched: %s", type(exc).__name__)
                    if not self._keys:
                        raise ApiProblem(503, "the identity provider's signing keys are unavailable; retry") from None
            return self._keys.get(kid)


def _choices(value: str) -> list[str]:
    """A comma-separated setting: Entra ID names an API by client id and by app id URI, and issues v1
    (sts.windows.net) and v2 (login.microsoftonline.com/.../v2.0) tokens."""
    return [part.strip() for part in value.split(",") if part.strip()]


class TokenVerifier:
    def __init__(self, keys: KeySet, *, audience: str, issuer: str, leeway: int) -> None:
        self.keys = keys
        self.audience = _choices(audience)
        self.issuer = _choices(issuer)
        self.leeway = leeway

    async def verify(self, authorization: str | None) -> Principal:
        """The caller of a request. Raises Unauthenticated (401) naming what is wrong, never the token."""
        if not authorization:
            raise Unauthenticated("a Microsoft Entra ID bearer token is required", error=None)
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'", error="invalid_request")
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("the bearer token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the bearer token is not a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise Unauthenticated("the bearer token must be signed with RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 200:
            raise Unauthenticated("the bearer token names no signing key (kid)")
        key = await self.keys.key(kid)
        if key is None:
            raise Unauthenticated("the bearer token is signed by an unknown key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "nbf", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the bearer token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the bearer token is not valid yet (nbf)") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the bearer token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the bearer token is from another issuer") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("the bearer token's signature is invalid") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"the bearer token lacks the {exc.claim!r} claim") from None
        except jwt.PyJWTError:
            raise Unauthenticated("the bearer token is invalid") from None
        return principal_of(claims)


def principal_of(claims: dict[str, Any]) -> Principal:
    subject = claims.get("oid") or claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated("the bearer token names no subject (oid or sub)")
    name = claims.get("preferred_username") or claims.get("upn") or claims.get("azp") or subject
    roles = claims.get("roles") or []
    if not isinstance(roles, list):
        roles = []
    return Principal(id=subject[:200], name=str(name)[:200], roles=frozenset(r for r in roles if isinstance(r, str)))
