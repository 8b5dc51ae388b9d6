"""The edges of the ledger: HTTP, CLI, configuration, storage and processes."""
