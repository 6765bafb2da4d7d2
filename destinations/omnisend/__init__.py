"""Omnisend: ``adapter.OmnisendDestination``, ``constants`` (documented facts with sources), ``profile``."""

from destinations.omnisend.adapter import OmnisendDestination

__all__ = ["OmnisendDestination"]
