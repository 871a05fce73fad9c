"""Day-two operations on a model: moving production back (what is in production: :mod:`retrain_platform.status`)."""

from __future__ import annotations

import datetime as dt
import getpass
import logging

from dagster import AssetMaterialization, DagsterInstance, DataVersion

from retrain_platform.failpoints import failpoint
from retrain_platform.keys import ModelKeys
from retrain_platform.registry import PREVIOUS_TAG, ModelRegistry
from retrain_platform.registry.reference import build_reference, training_partitions
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.storage.lake import Lake

_log = logging.getLogger(__name__)


def rollback(
    spec: ModelSpec,
    registry: ModelRegistry,
    lake: Lake,
    instance: DagsterInstance,
    to_version: str | None = None,
    reason: str = "manual rollback",
    who: str | None = None,
) -> str:
    """Move the ``champion`` alias back and record it as an event on ``production_model``; returns the version.

    Without ``to_version`` the target is the champion's predecessor (the ``champion.previous`` tag). The target
    must be a fully registered version; its reference sketch is rebuilt if missing, so drift checks keep working.
    The move holds the model's promotion lock and is a compare-and-set, so it never interleaves with a gate: a
    promotion that was deciding meanwhile re-gates its candidate against the rolled-back champion.
    """
    with registry.promotion_lock(spec.name):
        for note in registry.repair(spec.name):
            _log.warning(note)
        champion = registry.champion(spec.name)
        if champion is None:
            raise ValueError(f"{spec.name} has no champion; there is nothing to roll back")
        target = to_version or champion.tags.get(PREVIOUS_TAG)
        if not target:
            raise ValueError(f"{spec.name} v{champion.version} has no previous champion; pass --to VERSION")
        versions = {v.version: v for v in registry.versions(spec.name)}
        if str(target) not in versions:
            raise ValueError(f"{spec.name} has no version {target}; registered versions: {sorted(versions, key=int)}")
        if str(target) == champion.version:
            raise ValueError(f"{spec.name} v{target} is already the champion")
        info = versions[str(target)]
        if not training_partitions(info):
            raise ValueError(
                f"{spec.name} v{target} has no training record (its training stopped before it was registered "
                "completely); roll back to a version the gate decided"
            )
        if not lake.reference_dir(spec.name, info.version).exists():
            build_reference(lake, registry, spec, info)
        who = who or getpass.getuser()
        now = dt.datetime.now(dt.UTC).isoformat()
        registry.move_champion(
            spec.name,
            info.version,
            expected=champion.version,
            reason=f"rollback: {reason}",
            tags={"rollback.by": who, "rollback.at": now, "rollback.from": champion.version},
            at=now,
        )
        failpoint("rollback.alias_moved")
        instance.report_runless_asset_event(
            AssetMaterialization(
                asset_key=ModelKeys(spec.name).production_model,
                description=f"rollback from v{champion.version} to v{info.version} by {who}: {reason}",
                metadata={
                    "decision": "rollback",
                    "reason": reason,
                    "by": who,
                    "from_version": champion.version,
                    "candidate_version": info.version,
                    "champion_version": info.version,
                },
                tags={"dagster/data_version": DataVersion(f"v{info.version}").value},
            )
        )
    return info.version
