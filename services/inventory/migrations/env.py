"""Alembic environment of the inventory database; `python -m services.inventory migrate` runs it."""

from services.inventory.adapters.tables import metadata
from services.runtime.migrations import run_env

run_env(metadata)
