"""The orders database revisions, oldest first."""
