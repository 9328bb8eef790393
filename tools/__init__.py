"""Scripts run by hand against the engine (campaigns that take longer than a test)."""
