"""Monitoring: drift of new partitions against the champion's reference, and the champion's live performance."""
