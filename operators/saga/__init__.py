"""The saga operator: Order resources reconciled by kopf, fed from Kafka by the bridge."""
