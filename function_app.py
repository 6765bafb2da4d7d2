"""The Azure Functions app: builds the Durable app and registers the blueprints — nothing else."""

import azure.durable_functions as df

from blueprints.api import bp as api
from blueprints.exports import bp as exports

app = df.DFApp()
app.register_functions(exports)
app.register_functions(api)
