"""``python -m operators.saga --help``: run the saga operator."""

import sys

from operators.saga import cli

sys.exit(cli.main(sys.argv[1:]))
