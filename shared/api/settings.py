"""The API's app settings (``EXPORT_`` prefix, like the rest of the service) and its fixed limits.

Token validation follows Microsoft Entra ID: issuer and key set default from the tenant id; the
audience is the API's application id URI and/or client id. Only what differs between deployments is a
setting; limits and vendor endpoints are constants here (tests pass their own where they must).
OAuth client secrets live in Key Vault under the names below; the values are read when a callback
needs them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENTRA = "https://login.microsoftonline.com"
CLOCK_SKEW_SECONDS = 60
JWKS_CACHE_SECONDS = 3600.0
# An unknown key id refreshes the key set, but not more often than this: a flood of forged key ids
# must not become a flood of requests to Entra ID.
JWKS_MIN_REFRESH_SECONDS = 30.0
MAX_BODY_BYTES = 64 * 1024
MAX_QUERY_BYTES = 2048
OAUTH_STATE_TTL_SECONDS = 600


@dataclass(frozen=True)
class OAuthVendor:
    """One vendor's OAuth 2 authorization server as the API uses it."""

    vendor: str
    client_id: str
    client_secret_name: str  # Key Vault secret holding the app's client secret
    authorize_url: str
    token_url: str
    metadata_url: str | None = None  # Mailchimp: names the account's data centre
    scope: str | None = None


# Sources: Mailchimp "Access Data on Behalf of Other Users with OAuth 2"
# (mailchimp.com/developer/marketing/guides/access-user-data-oauth-2/); Campaign Monitor
# "Getting started — OAuth" (campaignmonitor.com/api/v3-3/getting-started/) and createsend-python.
VENDORS = {
    "mailchimp": OAuthVendor(
        "mailchimp",
        "",
        "mailchimp-oauth-client-secret",
        "https://login.mailchimp.com/oauth2/authorize",
        "https://login.mailchimp.com/oauth2/token",
        "https://login.mailchimp.com/oauth2/metadata",
    ),
    "campaign_monitor": OAuthVendor(
        "campaign_monitor",
        "",
        "campaign-monitor-oauth-client-secret",
        "https://api.createsend.com/oauth",
        "https://api.createsend.com/oauth/token",
        scope="ManageLists,ImportSubscribers",
    ),
}


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXPORT_", extra="ignore", frozen=True)

    api_tenant_id: str = Field(default="", pattern=r"^[0-9a-zA-Z.\-]{0,100}$")
    api_audience: str = ""  # comma-separated: the API's client id and/or app id URI
    api_issuer: str = ""  # comma-separated; default: {ENTRA}/{tenant}/v2.0
    api_jwks_url: str = ""  # default: {ENTRA}/{tenant}/discovery/v2.0/keys
    # Where the vendor sends the admin's browser back (the admin UI, which posts code and state).
    api_oauth_redirect_uri: str = "http://localhost:8080/oauth/callback"
    api_oauth_state_key_secret: str = Field(default="api-oauth-state-key", pattern=r"^[0-9a-zA-Z-]{1,127}$")
    mailchimp_oauth_client_id: str = ""
    campaign_monitor_oauth_client_id: str = ""

    @model_validator(mode="after")
    def _entra_defaults(self) -> ApiSettings:
        if self.api_tenant_id:
            if not self.api_issuer:
                object.__setattr__(self, "api_issuer", f"{ENTRA}/{self.api_tenant_id}/v2.0")
            if not self.api_jwks_url:
                object.__setattr__(self, "api_jwks_url", f"{ENTRA}/{self.api_tenant_id}/discovery/v2.0/keys")
        return self

    def problems(self) -> list[str]:
        """Settings the API cannot work without, by app-setting name (no values)."""
        return [
            f"EXPORT_{name.upper()}"
            for name in ("api_audience", "api_issuer", "api_jwks_url")
            if not getattr(self, name)
        ]

    def oauth_vendor(self, vendor: str, endpoints: dict[str, dict[str, str]] | None = None) -> OAuthVendor | None:
        """``endpoints``: vendor → {"authorize_url", "token_url", "metadata_url"} replacing the real ones
        (the simulators, locally)."""
        known = VENDORS.get(vendor)
        if known is None:
            return None
        client_id = self.mailchimp_oauth_client_id if vendor == "mailchimp" else self.campaign_monitor_oauth_client_id
        overrides = {k: v for k, v in (endpoints or {}).get(vendor, {}).items() if k.endswith("_url")}
        return replace(known, client_id=client_id, **overrides)
