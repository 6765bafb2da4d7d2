"""Mailchimp: ``adapter.MailchimpDestination``, ``constants`` (documented facts with sources), ``profile``."""

from destinations.mailchimp.adapter import MailchimpDestination

__all__ = ["MailchimpDestination"]
