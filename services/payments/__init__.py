"""The payments service: authorizes and refunds order payments through a payment provider.

The saga operator calls ``POST /payments`` (authorize, idempotent per order) and, to
compensate, ``POST /payments/{orderId}/refund``; Stripe confirms late outcomes through
``POST /payments/webhook``. Each outcome is stored with its ``payment.*`` event in one
transaction (the outbox), relayed to ``kubesaga.payments``. The provider is simulated or
Stripe, behind one port, wrapped in retries and a circuit breaker shared through Redis.
Layers: ``domain`` > ``service_layer`` > ``adapters`` > ``entrypoints``, wired by ``bootstrap``.
"""
