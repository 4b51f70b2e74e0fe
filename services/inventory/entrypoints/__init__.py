"""Inventory's entrypoints: the HTTP routes, the expiry sweeper and the command line."""
