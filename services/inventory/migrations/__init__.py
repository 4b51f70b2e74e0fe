"""Inventory's Alembic migrations, applied by ``services.runtime.migrations.upgrade``.

``SCRIPT_LOCATION`` is what the ``migrate`` command and the tests pass to ``upgrade``.
"""

from pathlib import Path

SCRIPT_LOCATION = Path(__file__).resolve().parent
