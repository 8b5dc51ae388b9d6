"""The vendor contract ledger's domain model: pure Python and eventsourcing's domain module."""
