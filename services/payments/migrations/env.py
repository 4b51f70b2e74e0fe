"""Alembic's entry for the payments database; the body is the runtime's shared ``run_env``."""

from services.payments.adapters.tables import metadata
from services.runtime.migrations import run_env

run_env(metadata)
