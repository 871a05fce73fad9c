"""Asset checks of daily assets, declared daily themselves so each evaluation records its partition."""

import warnings

from dagster import AssetCheckKey, AssetCheckSpec, PartitionsDefinition, PreviewWarning


def daily_check(
    key: AssetCheckKey, partitions_def: PartitionsDefinition, description: str, *, blocking: bool = False
) -> AssetCheckSpec:
    """A check spec on ``key.asset_key`` partitioned like its asset.

    Without ``partitions_def`` dagster records a check's result without its partition, and automation cannot
    tell which day failed. Partitioned checks are a dagster 1.13 *preview* feature; the platform relies on it
    deliberately (the automation tests pin its behaviour), so its warning is silenced here and nowhere else.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return AssetCheckSpec(
            key.name, asset=key.asset_key, partitions_def=partitions_def, blocking=blocking, description=description
        )
