"""``python -m services.payments --help``: the CLI, given the app factory from bootstrap."""

import sys

from services.payments import bootstrap
from services.payments.entrypoints import cli

sys.exit(cli.main(sys.argv[1:], create_app=bootstrap.create_app))
