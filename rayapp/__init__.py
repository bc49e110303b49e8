"""rayapp."""
