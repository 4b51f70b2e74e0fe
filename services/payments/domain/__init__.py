"""The payments domain: the Payment aggregate, money checks, provider outcomes, the simulator.

Pure Python (no framework, no I/O, not even the runtime), so every rule is tested without a
platform. The service layer turns ``events`` into Kafka contracts and provider answers
(``outcomes``) into state changes.
"""
