"""``python -m services.inventory --help``: migrate, seed, sweep --once, serve."""

import sys

from services.inventory import bootstrap
from services.inventory.entrypoints import cli

raise SystemExit(cli.main(sys.argv[1:], create_app=bootstrap.create_app))
