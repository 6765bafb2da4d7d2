"""The domain of the segment export service. Imports nothing from ``azure.functions``."""
