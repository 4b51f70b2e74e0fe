"""Entry point: `python -m infra.local --help`."""

import sys

from infra.local.cli import main

sys.exit(main())
