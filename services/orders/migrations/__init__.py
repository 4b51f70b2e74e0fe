"""Alembic revisions of the orders database; ``python -m services.orders migrate`` applies them.

``SCRIPT_LOCATION`` is what ``services.runtime.migrations.upgrade`` needs (the CLI and the
tests pass it).
"""

from pathlib import Path

SCRIPT_LOCATION = Path(__file__).parent
