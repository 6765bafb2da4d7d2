"""Local tooling: Azurite, the in-process environment, sample data, the demo and the CLI."""
