"""Alembic revisions of the payments database; ``python -m services.payments migrate`` applies them.

``SCRIPT_LOCATION`` is what ``services.runtime.migrations.upgrade`` needs (the CLI and the
tests pass it).
"""

from pathlib import Path

SCRIPT_LOCATION = Path(__file__).parent
