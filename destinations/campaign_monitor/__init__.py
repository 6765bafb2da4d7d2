"""Campaign Monitor: ``adapter.CampaignMonitorDestination``, ``constants`` (documented facts), ``profile``."""

from destinations.campaign_monitor.adapter import CampaignMonitorDestination
from destinations.campaign_monitor.constants import IMPORT_MAX, field_key  # noqa: F401 - TEMPORARY: simulators/ until h/sim

__all__ = ["CampaignMonitorDestination"]
