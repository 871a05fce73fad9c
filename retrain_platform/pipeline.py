"""One model's slice of the platform: its asset graph, checks, jobs and landing sensor, from its spec.

The data path, top to bottom: ``raw_batch`` → ``features`` (blocking schema check) → ``drift_report`` and
``champion_performance`` (trigger checks) → ``candidate_model`` (MLflow) → ``production_model`` (the gate);
with a ``feedback`` section, ``live_performance`` scores the served champion on live traffic's delayed labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster import DailyPartitionsDefinition, Definitions, define_asset_job

from retrain_platform.automation.conditions import (
    monitoring_condition,
    promotion_condition,
    retrain_condition,
)
from retrain_platform.feedback.assets import build_live_performance_asset
from retrain_platform.feedback.sensor import build_feedback_sensor
from retrain_platform.ingest.assets import build_ingest_assets
from retrain_platform.ingest.sensor import LandingTarget
from retrain_platform.ingest.sql_source import build_source_sensor
from retrain_platform.keys import ModelKeys
from retrain_platform.monitoring.assets import build_monitoring_assets
from retrain_platform.promotion.assets import build_promotion_asset
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.training.assets import build_training_asset


def ingest_job_name(model: str) -> str:
    """The partitioned job the landing sensor launches for ``model``."""
    return ModelKeys(model).ingest_job


def retrain_job_name(model: str) -> str:
    """The job that trains a candidate and runs the gate for ``model``."""
    return ModelKeys(model).retrain_job


def live_job_name(model: str) -> str:
    """The partitioned job the feedback sensor launches to score a day of live traffic."""
    return ModelKeys(model).live_job


@dataclass(frozen=True)
class ModelPipeline:
    """One model's definitions, and what the shared landing sensor needs to watch its landing folder."""

    definitions: Definitions
    landing: LandingTarget


def build_model_pipeline(spec: ModelSpec) -> ModelPipeline:
    """Assets, checks, jobs and sensors of one model, all in the asset group named after it (its landings are
    watched by the one landing sensor :func:`~retrain_platform.definitions.build_definitions` adds)."""
    keys = ModelKeys(spec.name)
    daily = DailyPartitionsDefinition(start_date=spec.partitions.start_date.isoformat())
    raw_batch, features = build_ingest_assets(spec, daily)
    drift_report, champion_performance = build_monitoring_assets(spec, daily, monitoring_condition())
    candidate = build_training_asset(spec, retrain_condition(spec))
    production = build_promotion_asset(spec, promotion_condition(spec))
    ingest = define_asset_job(
        ingest_job_name(spec.name),
        selection=[keys.raw_batch, keys.features, keys.drift_report, keys.champion_performance],
        partitions_def=daily,
        description=f"Ingest, validate and monitor one day of {spec.name}.",
        # Dagster's run retries re-execute a run whose worker crashed, but not one whose step failed: a quarantined
        # day fails its blocking check on purpose, and an I/O failure is retried by the landing sensor, with backoff.
        tags={"dagster/retry_on_asset_or_op_failure": "false"},
    )
    retrain = define_asset_job(
        retrain_job_name(spec.name),
        selection=[keys.candidate_model, keys.production_model],
        description=f"Train a {spec.name} candidate and run the promotion gate.",
    )
    assets = [raw_batch, features, drift_report, champion_performance, candidate, production]
    jobs = [ingest, retrain]
    sensors = []
    if spec.source is not None:
        sensors.append(build_source_sensor(spec))
    if spec.feedback is not None:
        # Prediction days are UTC days of live traffic: today's is scored while it is still going (end_offset).
        live_days = DailyPartitionsDefinition(start_date=spec.partitions.start_date.isoformat(), end_offset=1)
        live = define_asset_job(
            live_job_name(spec.name),
            selection=[keys.live_performance],
            partitions_def=live_days,
            description=f"Score {spec.name}'s champion on one day of live traffic whose labels came back.",
        )
        assets.append(build_live_performance_asset(spec, live_days))
        jobs.append(live)
        sensors.append(build_feedback_sensor(spec, live, retrain))
    return ModelPipeline(Definitions(assets=assets, jobs=jobs, sensors=sensors), LandingTarget(spec, ingest, daily))
