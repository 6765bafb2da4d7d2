"""The error vocabulary of the export service.

Every error the domain raises is an ``ExportError``; the orchestration and the HTTP layer turn them
into plain-words run errors or RFC 9457 problem documents. Which errors are *retried* is part of the
type, so no caller has to guess from a message::

    ExportError
    ├── ConfigurationError           bad input from a person: a field, a file and line      (not retried)
    │   ├── SettingsError            an app setting is missing or malformed
    │   └── SegmentFormatError       a segment file cannot be read at all (names blob, line)
    ├── ConcurrencyConflict          an ETag did not match: someone else wrote first      (not retried)
    ├── NotFound                     a configuration document does not exist               (not retried)
    ├── GuardTripped                 a safety guard refused the run (mass removal, size)    (not retried)
    └── DestinationError             something a vendor said
        ├── CredentialRefused        401/403: the credential of a connection was refused   (not retried)
        ├── TargetNotFound           404 on the list / audience                            (not retried)
        ├── FieldsMissing            mapped vendor fields do not exist (pre-flight)        (not retried)
        ├── RequestRejected          the vendor refused a whole request (400)              (not retried)
        └── RetryableDestinationError                                                      (retried)
            ├── RateLimited          429: carries the vendor's retry-after in seconds
            └── VendorUnavailable    5xx, timeouts, connection resets

Messages never contain a secret: errors are built from vendor names, ids and counts, never from a
credential or an ``Authorization`` header.
"""

from __future__ import annotations


class ExportError(Exception):
    """Base of every error raised by this service."""

    retryable: bool = False


class ConfigurationError(ExportError):
    """Input from a person is invalid; ``field`` names what to fix."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class SettingsError(ConfigurationError):
    """An app setting is missing or malformed."""


class SegmentFormatError(ConfigurationError):
    """A segment file cannot be read; names the blob and, where known, the line."""

    def __init__(self, message: str, *, blob: str, line: int | None = None) -> None:
        where = f"{blob}, line {line}" if line is not None else blob
        super().__init__(f"{where}: {message}", field=blob)
        self.blob = blob
        self.line = line


class ConcurrencyConflict(ExportError):
    """A write carried an ETag that no longer matches: reload and retry the edit."""


class NotFound(ExportError):
    """A configuration document (connection, export, run) does not exist."""


class GuardTripped(ExportError):
    """A safety guard refused the run; the message carries the numbers."""


class DestinationError(ExportError):
    """Something a vendor said. ``vendor`` is the registry key, e.g. ``"sendgrid"``."""

    def __init__(self, message: str, *, vendor: str, status: int | None = None) -> None:
        super().__init__(message)
        self.vendor = vendor
        self.status = status


class CredentialRefused(DestinationError):
    """401/403: the connection's credential was refused by the vendor."""


class TargetNotFound(DestinationError):
    """404 on the list/audience: it does not exist in the vendor account."""


class FieldsMissing(DestinationError):
    """Mapped vendor fields do not exist; ``fields`` lists them."""

    def __init__(self, message: str, *, vendor: str, fields: list[str]) -> None:
        super().__init__(message, vendor=vendor, status=None)
        self.fields = fields


class RequestRejected(DestinationError):
    """The vendor refused a whole request for a stated reason (not a rate or server problem)."""


class RetryableDestinationError(DestinationError):
    """A transient vendor failure; ``retry_after`` (seconds) is the vendor's hint, if it gave one."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        vendor: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, vendor=vendor, status=status)
        self.retry_after = retry_after


class RateLimited(RetryableDestinationError):
    """429: slow down; ``retry_after`` comes from Retry-After or the vendor's rate-limit headers."""


class VendorUnavailable(RetryableDestinationError):
    """5xx, a timeout or a reset connection."""
