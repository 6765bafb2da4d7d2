"""Brevo: ``adapter.BrevoDestination``, ``constants`` (documented facts), ``profile``."""

from destinations.brevo.adapter import BrevoDestination
from destinations.brevo.constants import LIST_EDIT_MAX, attribute_name  # noqa: F401 - TEMPORARY: simulators/ until h/sim

__all__ = ["BrevoDestination"]
