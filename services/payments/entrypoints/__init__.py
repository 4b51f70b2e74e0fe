"""The payments service's entrypoints: the HTTP API, its schemas and error mapping, the CLI."""
