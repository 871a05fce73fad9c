"""Ingestion: landed files become raw partitions, then validated features (or quarantined)."""
