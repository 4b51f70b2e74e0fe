"""The orders service's edges: its tables and repository, its unit of work, the catalog client."""
