"""Brevo: ``adapter.BrevoDestination``, ``constants`` (documented facts with sources), ``profile``."""

from destinations.brevo.adapter import BrevoDestination

__all__ = ["BrevoDestination"]
