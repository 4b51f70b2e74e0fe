"""How the world reaches orders: the HTTP API, the saga-event consumer and the CLI."""
