"""kubesaga."""
