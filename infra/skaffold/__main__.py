"""Entry point: `python -m infra.skaffold build` (skaffold's custom build command)."""

import sys

from infra.skaffold.build import main

sys.exit(main())
