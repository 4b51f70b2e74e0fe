"""Inventory's schema revisions, in order."""
