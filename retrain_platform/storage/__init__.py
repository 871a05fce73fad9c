"""Where partitions, features, quarantine records and reports live on disk."""

from retrain_platform.storage.lake import Lake

__all__ = ["Lake"]
