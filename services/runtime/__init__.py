"""What every kubesaga service repeats, written once.

Settings, the database and its unit of work, the transactional outbox and its relay, Kafka
producers and inbox consumers, Redis idempotency keys, retry and circuit breaking, telemetry
(JSON logs, Prometheus metrics, OpenTelemetry traces) and the HTTP application shell. The
services under ``services/`` build on it; they never import each other.
"""
