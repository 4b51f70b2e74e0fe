"""The chaos harness: sagas under load while the platform's parts are killed and the network
breaks, then invariants checked from the databases and the Orders.

``python -m tests.bench.chaos`` (``make chaos``, the long profile) and
tests/e2e/test_chaos.py (the short profile, in ``make test``) run the same ``run.chaos``.
One module per job:

- ``load``: the mix of orders, placing them at a rate or in a burst, 3-D Secure webhooks,
  waiting until everything settled (bounded). The throughput work reuses it.
- ``observer``: watches the Orders (phases, deletions) while the run goes on.
- ``faults``: the seeded fault schedule and the injector (kill -9, restarts, gates).
- ``evidence``: reads the databases, the Orders and the dead-letter topics afterwards.
- ``invariants``: pure checks over that evidence; each one a count with examples.
- ``timeline``: stalls after each fault (pure), and the printed report.
- ``run``: the profiles, and one whole run from the stack to the report.
"""
