"""The one place the platform's Dagster ``Definitions`` are assembled (``dagster dev -w workspace.yaml``).

Models come from spec files (``RETRAIN_SPECS``, default: the bundled examples); each becomes an asset group.
One automation sensor evaluates every model's conditions, and it is running by default. It runs in the code
server (``use_user_code_server=True``) because the conditions include arbitrary Python
(:class:`~retrain_platform.automation.landed.NewestLandedPartition`), which the daemon process cannot evaluate;
Dagster then limits one sensor to 500 assets and checks (11 per model). A model whose runs need tags of their
own (a ``dagster/max_runtime``, see :mod:`retrain_platform.orchestration.run_limits`) gets its own automation
sensor, because a sensor's run tags apply to every run it launches.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    BetaWarning,
    DefaultSensorStatus,
    Definitions,
)

from retrain_platform.ingest.sensor import build_landing_sensor, sensor_interval
from retrain_platform.keys import ModelKeys
from retrain_platform.notify.sensor import build_notifications_sensor
from retrain_platform.orchestration.run_limits import run_tags
from retrain_platform.pipeline import build_model_pipeline
from retrain_platform.resources import build_executor, build_resources
from retrain_platform.settings import default_notifications, spec_paths
from retrain_platform.spec import ModelSpec, load_specs

AUTOMATION_SENSOR = "retrain_automation"


def automation_sensor_name(model: str) -> str:
    """The automation sensor of a model whose runs carry tags of their own."""
    return f"{model}_automation"


def _automation_sensor(name: str, target: AssetSelection, tags: dict[str, str], description: str):
    # use_user_code_server is a dagster 1.13 beta parameter; the platform relies on it deliberately (its
    # conditions are Python the daemon cannot evaluate), so its warning is silenced here and nowhere else.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        return AutomationConditionSensorDefinition(
            name,
            target=target,
            default_status=DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=sensor_interval(),
            run_tags=tags or None,
            use_user_code_server=True,
            description=description,
        )


def automation_sensors(specs: Sequence[ModelSpec]) -> list[AutomationConditionSensorDefinition]:
    """The shared automation sensor, for every model without run tags of its own, and one per model with some."""
    own = {spec.name: tags for spec in specs if (tags := run_tags(spec))}
    shared = AssetSelection.all()
    if own:
        shared = shared - AssetSelection.groups(*own)
    # live_performance is requested by its feedback sensor, never by a condition: it need not count towards the
    # automation sensor's limit of assets and checks.
    live = [ModelKeys(spec.name).live_performance for spec in specs if spec.feedback is not None]
    if live:
        shared = shared - AssetSelection.assets(*live)
    sensors = [
        _automation_sensor(
            AUTOMATION_SENSOR, shared, {}, "Evaluates every model's retrain, monitoring and promotion conditions."
        )
    ]
    sensors += [
        _automation_sensor(
            automation_sensor_name(model),
            AssetSelection.groups(model),
            tags,
            f"Evaluates {model}'s retrain, monitoring and promotion conditions; its runs are tagged "
            + ", ".join(f"{k}={v}" for k, v in tags.items()),
        )
        for model, tags in own.items()
    ]
    return sensors


def build_definitions(
    specs: Sequence[ModelSpec], home: Path | None = None, resources: dict | None = None
) -> Definitions:
    """Every model's assets, jobs and sensors, the automation sensor(s), the notifications sensor (when any
    spec or ``RETRAIN_NOTIFICATIONS`` configures one), and the resources.

    ``resources`` defaults to the environment's (:func:`build_resources`); tests pass their own.
    """
    pipelines = [build_model_pipeline(spec) for spec in specs]
    sensors = automation_sensors(specs)
    if pipelines:
        sensors.append(build_landing_sensor([p.landing for p in pipelines]))
    notifications = build_notifications_sensor(specs, default_notifications())
    if notifications is not None:
        sensors.append(notifications)
    platform = Definitions(sensors=sensors, resources=resources or build_resources(home), executor=build_executor())
    return Definitions.merge(*(p.definitions for p in pipelines), platform)


defs = build_definitions(load_specs(spec_paths()))
