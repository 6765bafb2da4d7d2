"""Azure Functions bindings: thin registrations over the domain in ``shared``."""
