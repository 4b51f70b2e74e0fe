"""Inventory's pure core: products and their stock, reservation rules, domain events and errors.

Imports nothing but the standard library (an import-linter contract checks it), so every rule
is tested without a database.
"""
