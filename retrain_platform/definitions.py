"""The one place the platform's Dagster ``Definitions`` are assembled (``dagster dev -w workspace.yaml``).

Models come from spec files (``RETRAIN_SPECS``, default: the bundled examples); each becomes an asset group.
One automation sensor evaluates every model's conditions, and it is running by default. It runs in the code
server (``use_user_code_server=True``) because the conditions include arbitrary Python
(:class:`~retrain_platform.automation.landed.NewestLandedPartition`), which the daemon process cannot evaluate;
Dagster then limits one sensor to 500 assets and checks (11 per model).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus, Definitions

from retrain_platform.ingest.sensor import sensor_interval
from retrain_platform.pipeline import build_model_definitions
from retrain_platform.resources import build_executor, build_resources
from retrain_platform.settings import spec_paths
from retrain_platform.spec import ModelSpec, load_specs

AUTOMATION_SENSOR = "retrain_automation"


def build_definitions(
    specs: Sequence[ModelSpec], home: Path | None = None, resources: dict | None = None
) -> Definitions:
    """Every model's assets, jobs and sensors, the automation sensor, and the resources.

    ``resources`` defaults to the environment's (:func:`build_resources`); tests pass their own.
    """
    automation = AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=AssetSelection.all(),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=sensor_interval(),
        use_user_code_server=True,
        description="Evaluates every model's retrain, monitoring and promotion conditions.",
    )
    platform = Definitions(
        sensors=[automation], resources=resources or build_resources(home), executor=build_executor()
    )
    return Definitions.merge(*(build_model_definitions(spec) for spec in specs), platform)


defs = build_definitions(load_specs(spec_paths()))
