"""Entry point: `python -m infra.images --help`."""

import sys

from infra.images.cli import main

sys.exit(main())
