"""Alembic's entry for the orders database; the body is the runtime's shared ``run_env``."""

from services.orders.adapters.tables import metadata
from services.runtime.migrations import run_env

run_env(metadata)
