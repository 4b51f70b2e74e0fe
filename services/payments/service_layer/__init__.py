"""The payments use cases: authorize, refund, apply a provider notice; and the provider port.

Handlers take a unit of work, the provider and the guard (retries and the circuit breaker);
they never import SQLAlchemy or the Stripe SDK.
"""
