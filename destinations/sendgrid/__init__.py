"""SendGrid: ``adapter.SendGridDestination``, ``constants`` (documented facts with sources), ``profile``."""

from destinations.sendgrid.adapter import SendGridDestination

__all__ = ["SendGridDestination"]
