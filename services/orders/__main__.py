"""``python -m services.orders --help``: the CLI, given the app factory from bootstrap."""

import sys

from services.orders import bootstrap
from services.orders.entrypoints import cli

sys.exit(cli.main(sys.argv[1:], create_app=bootstrap.create_app))
