"""The API's app settings (``EXPORT_`` prefix, like the rest of the service).

Token validation follows Microsoft Entra ID: the issuer and key set default from the tenant id, the
audience is the API's application id URI (or client id). OAuth client secrets are Key Vault secret
*names*; the values are read from Key Vault when a callback needs them.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENTRA = "https://login.microsoftonline.com"


@dataclass(frozen=True)
class OAuthVendor:
    """One vendor's OAuth 2 authorization server as the API uses it."""

    vendor: str
    client_id: str
    client_secret_name: str
    authorize_url: str
    token_url: str
    metadata_url: str | None  # Mailchimp: names the account's data centre
    scope: str | None


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXPORT_", extra="ignore", frozen=True)

    # Entra ID token validation.
    api_tenant_id: str = Field(default="", pattern=r"^[0-9a-zA-Z.\-]{0,100}$")
    api_audience: str = ""  # comma-separated: the API's client id and/or app id URI
    api_issuer: str = ""  # comma-separated; default: {ENTRA}/{tenant}/v2.0
    api_jwks_url: str = ""  # default: {ENTRA}/{tenant}/discovery/v2.0/keys
    api_clock_skew_seconds: int = Field(default=60, ge=0, le=300)
    api_jwks_cache_seconds: float = Field(default=3600.0, gt=0)
    # An unknown key id refreshes the key set, but not more often than this (a flood of forged kids
    # must not become a flood of requests to Entra ID).
    api_jwks_min_refresh_seconds: float = Field(default=30.0, ge=0)

    # Request shape limits.
    api_max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=1024 * 1024)
    api_max_query_bytes: int = Field(default=2048, ge=256, le=8192)

    # OAuth 2 for Mailchimp and Campaign Monitor.
    api_oauth_redirect_uri: str = "http://localhost:8080/oauth/callback"
    api_oauth_state_key_secret: str = Field(default="api-oauth-state-key", pattern=r"^[0-9a-zA-Z-]{1,127}$")
    api_oauth_state_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    mailchimp_oauth_client_id: str = ""
    mailchimp_oauth_client_secret_name: str = Field(
        default="mailchimp-oauth-client-secret", pattern=r"^[0-9a-zA-Z-]{1,127}$"
    )
    mailchimp_oauth_authorize_url: str = "https://login.mailchimp.com/oauth2/authorize"
    mailchimp_oauth_token_url: str = "https://login.mailchimp.com/oauth2/token"  # noqa: S105 - a URL
    mailchimp_oauth_metadata_url: str = "https://login.mailchimp.com/oauth2/metadata"
    campaign_monitor_oauth_client_id: str = ""
    campaign_monitor_oauth_client_secret_name: str = Field(
        default="campaign-monitor-oauth-client-secret", pattern=r"^[0-9a-zA-Z-]{1,127}$"
    )
    campaign_monitor_oauth_authorize_url: str = "https://api.createsend.com/oauth"
    campaign_monitor_oauth_token_url: str = "https://api.createsend.com/oauth/token"  # noqa: S105 - a URL
    campaign_monitor_oauth_scope: str = "ManageLists,ImportSubscribers"

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
        missing = []
        for name in ("api_audience", "api_issuer", "api_jwks_url"):
            if not getattr(self, name):
                missing.append(f"EXPORT_{name.upper()}")
        return missing

    def oauth_vendor(self, vendor: str) -> OAuthVendor | None:
        if vendor == "mailchimp":
            return OAuthVendor(
                vendor,
                self.mailchimp_oauth_client_id,
                self.mailchimp_oauth_client_secret_name,
                self.mailchimp_oauth_authorize_url,
                self.mailchimp_oauth_token_url,
                self.mailchimp_oauth_metadata_url,
                None,
            )
        if vendor == "campaign_monitor":
            return OAuthVendor(
                vendor,
                self.campaign_monitor_oauth_client_id,
                self.campaign_monitor_oauth_client_secret_name,
                self.campaign_monitor_oauth_authorize_url,
                self.campaign_monitor_oauth_token_url,
                None,
                self.campaign_monitor_oauth_scope,
            )
        return None
