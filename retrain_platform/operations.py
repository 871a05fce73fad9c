"""Day-two operations on a model: what is in production, and moving production back."""

from __future__ import annotations

import datetime as dt
import getpass
import logging
from dataclasses import dataclass

from dagster import AssetMaterialization, DagsterInstance, DataVersion

from retrain_platform.failpoints import failpoint
from retrain_platform.keys import ModelKeys
from retrain_platform.promotion.metrics import METRICS
from retrain_platform.registry import PREVIOUS_TAG, PROMOTED_AT_TAG, WINDOW_END_TAG, ModelRegistry
from retrain_platform.registry.reference import build_reference, training_partitions
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.storage.lake import Lake

_log = logging.getLogger(__name__)


@dataclass
class ModelStatus:
    """What an operator asks first: who is champion, how good, how old, and what happened last."""

    model: str
    champion_version: str | None
    champion_metric: float | None
    metric: str
    age_days: float | None
    training_window: str | None
    last_drift_share: float | None
    last_decision: str | None

    def format(self) -> str:
        """Human-readable lines."""
        if self.champion_version is None:
            return f"{self.model}: no champion yet" + (
                f" (last decision: {self.last_decision})" if self.last_decision else ""
            )
        metric = f"{self.champion_metric:.4f}" if self.champion_metric is not None else "n/a"
        drift = f"{self.last_drift_share:.0%}" if self.last_drift_share is not None else "n/a"
        return "\n".join(
            [
                f"{self.model}: champion v{self.champion_version}",
                f"  holdout {self.metric}: {metric}",
                f"  age: {self.age_days:.1f} days since promotion",
                f"  training window: {self.training_window}",
                f"  last drift share: {drift}",
                f"  last decision: {self.last_decision or 'n/a'}",
            ]
        )


def _latest_metadata(instance: DagsterInstance, key, *, observation: bool = False) -> dict:
    from dagster import AssetRecordsFilter

    records = (instance.fetch_observations if observation else instance.fetch_materializations)(
        AssetRecordsFilter(asset_key=key), limit=1
    ).records
    if not records:
        return {}
    entry = records[0].asset_observation if observation else records[0].asset_materialization
    return {k: v.value for k, v in entry.metadata.items()} | {"_timestamp": records[0].timestamp}


def model_status(spec: ModelSpec, registry: ModelRegistry, instance: DagsterInstance) -> ModelStatus:
    """Champion version, its holdout metric, age, training window, last drift share and last gate decision."""
    keys = ModelKeys(spec.name)
    champion = registry.champion(spec.name)
    drift = _latest_metadata(instance, keys.drift_report)
    decisions = [_latest_metadata(instance, keys.production_model, observation=o) for o in (False, True)]
    decisions = [d for d in decisions if "decision" in d]
    last = max(decisions, key=lambda d: d["_timestamp"], default=None)
    last_decision = f"{last['decision']} v{last['candidate_version']}: {last['reason']}" if last else None
    if champion is None:
        return ModelStatus(
            spec.name, None, None, spec.metric.name, None, None, drift.get("drifted_share"), last_decision
        )
    metric_value = registry.run_metrics(champion).get(f"holdout_{spec.metric.name}")
    promoted = champion.tags.get(PROMOTED_AT_TAG)
    since = dt.datetime.fromisoformat(promoted) if promoted else champion.created
    age = (dt.datetime.now(dt.UTC) - since).total_seconds() / 86400
    partitions = training_partitions(champion)
    window = f"{partitions[0]} .. {champion.tags.get(WINDOW_END_TAG, partitions[-1])}" if partitions else None
    return ModelStatus(
        spec.name,
        champion.version,
        metric_value,
        METRICS[spec.metric.name].name,
        age,
        window,
        drift.get("drifted_share"),
        last_decision,
    )


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
