"""Inventory's use cases: reserve, commit, release, expire, read and seed the catalog."""
