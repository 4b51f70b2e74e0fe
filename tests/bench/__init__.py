"""Load measurements run by ``make bench``, not by pytest (no test_ files here)."""
