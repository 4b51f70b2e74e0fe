"""The payments service's edges: its tables and repositories, and the payment providers.

Only this package (and the entrypoints) import SQLAlchemy and the Stripe SDK.
"""
