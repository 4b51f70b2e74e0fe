"""The payments database revisions, oldest first."""
