"""The orders use cases: handlers that take a unit of work and ports, and nothing from HTTP."""
