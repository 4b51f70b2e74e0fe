"""Inventory's adapters: its tables, the repositories over them, and the seed catalog file."""
