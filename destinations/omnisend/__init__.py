"""Omnisend: ``adapter.OmnisendDestination``, ``constants`` (documented facts), ``profile``."""

from destinations.omnisend.adapter import OmnisendDestination, email_of  # noqa: F401 - email_of: simulators/ until h/sim
from destinations.omnisend.constants import (  # noqa: F401 - TEMPORARY: read by simulators/ until h/sim lands
    API_VERSION,
    FIELDS,
    UNTAG_MAX,
)
from destinations.omnisend.constants import BATCH_MAX_ITEMS as BATCH_ITEMS  # noqa: F401 - TEMPORARY, as above

__all__ = ["OmnisendDestination"]
