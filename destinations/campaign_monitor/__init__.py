"""Campaign Monitor: ``adapter.CampaignMonitorDestination``, ``constants`` (documented facts with sources),
``profile``."""

from destinations.campaign_monitor.adapter import CampaignMonitorDestination

__all__ = ["CampaignMonitorDestination"]
