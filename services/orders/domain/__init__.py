"""The orders domain: the Order aggregate, its money arithmetic, and what it reacts to.

Pure Python (no framework, no I/O, not even the runtime), so every rule is tested without a
platform. The service layer translates Kafka contracts to ``facts`` and back from ``events``.
"""
