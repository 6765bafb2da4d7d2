"""The admin HTTP API: FastAPI routes over the configuration store, Key Vault and the durable client."""
