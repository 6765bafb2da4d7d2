"""The Azure Functions app: builds the Durable app and registers the blueprints — nothing else but
checking the settings and turning on telemetry, neither of which may ever stop the app from indexing."""

import logging

import azure.durable_functions as df

from blueprints.api import bp as api
from blueprints.exports import bp as exports
from shared import telemetry
from shared.settings import settings_problems

telemetry.configure()
for _problem in settings_problems():
    # Logged at start-up, shown by /api/health, and the message each run fails with.
    logging.getLogger("segment_export").error("invalid app setting: %s", _problem)

app = df.DFApp()
app.register_functions(exports)
app.register_functions(api)
