"""``retrain_platform.definitions:defs``, what ``dagster dev -w workspace.yaml`` loads, with the bundled examples."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
    build_sensor_context,
)
from dagster._core.definitions.sensor_definition import SensorType

from retrain_platform.definitions import AUTOMATION_SENSOR, automation_sensor_name, build_definitions
from retrain_platform.ingest.sensor import LANDING_SENSOR_NAME
from retrain_platform.orchestration.run_limits import max_runtime_seconds, run_tags
from retrain_platform.spec import load_specs
from retrain_platform_tests.conftest import make_spec

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "retrain_platform" / "examples" / "specs"
MODELS = ("churn", "sales")
ASSETS = ("raw_batch", "features", "drift_report", "champion_performance", "candidate_model", "production_model")


@pytest.fixture(scope="module")
def defs() -> Definitions:
    """The module attribute itself, as built on import (the bundled examples unless RETRAIN_SPECS is set)."""
    import retrain_platform.definitions as module

    if os.environ.get("RETRAIN_SPECS"):
        pytest.skip("RETRAIN_SPECS is set: defs holds other models than the bundled examples")
    return module.defs


def test_defs_hold_exactly_the_bundled_examples(defs, tmp_path):
    examples = build_definitions(load_specs([EXAMPLES]), home=tmp_path)
    assert defs.resolve_asset_graph().get_all_asset_keys() == examples.resolve_asset_graph().get_all_asset_keys()
    assert {s.name for s in defs.sensors} == {s.name for s in examples.sensors}


def test_every_example_model_has_its_asset_group(defs):
    graph = defs.resolve_asset_graph()
    assert graph.get_all_asset_keys() == {AssetKey([m, a]) for m in MODELS for a in ASSETS}
    for model in MODELS:
        for asset in ASSETS:
            assert graph.get(AssetKey([model, asset])).group_name == model
        assert graph.get(AssetKey([model, "features"])).partitions_def is not None
        assert graph.get(AssetKey([model, "candidate_model"])).partitions_def is None
        assert graph.get(AssetKey([model, "candidate_model"])).automation_condition is not None
        assert graph.get(AssetKey([model, "production_model"])).automation_condition is not None
        assert graph.get(AssetKey([model, "drift_report"])).automation_condition is not None


def test_checks_of_each_model(defs):
    graph = defs.resolve_asset_graph()
    for model in MODELS:
        checks = {(k.asset_key.path[-1], k.name) for k in graph.asset_check_keys if k.asset_key.path[0] == model}
        assert checks == {
            ("features", "schema"),
            ("features", "data_quality"),
            ("features", "training_volume"),
            ("drift_report", "drift"),
            ("champion_performance", "performance_floor"),
            ("champion_performance", "champion_age"),
        }
        assert graph.get(AssetCheckKey(AssetKey([model, "features"]), "schema")).blocking
        assert not graph.get(AssetCheckKey(AssetKey([model, "drift_report"]), "drift")).blocking


def test_jobs_and_sensors(defs):
    jobs = {job.name for job in defs.resolve_all_job_defs()}
    assert {f"{m}_{kind}" for m in MODELS for kind in ("ingest", "retrain")} <= jobs

    sensors = {s.name: defs.resolve_sensor_def(s.name) for s in defs.sensors}
    # one landing sensor for every model: a short interval then costs one tick per interval, not one per model
    assert set(sensors) == {LANDING_SENSOR_NAME, AUTOMATION_SENSOR}
    for sensor in sensors.values():
        assert sensor.default_status == DefaultSensorStatus.RUNNING, sensor.name
    automation = sensors[AUTOMATION_SENSOR]
    assert isinstance(automation, AutomationConditionSensorDefinition)
    # the conditions are arbitrary Python, which only the code server can evaluate
    assert automation.sensor_type == SensorType.AUTOMATION
    graph = defs.resolve_asset_graph()
    assert not graph.get(AssetKey(["churn", "candidate_model"])).automation_condition.is_serializable
    assert {job.name for job in sensors[LANDING_SENSOR_NAME].jobs} == {"churn_ingest", "sales_ingest"}

    ingest = defs.resolve_job_def("churn_ingest")
    assert ingest.partitions_def is not None
    retrain = defs.resolve_job_def("churn_retrain")
    assert retrain.asset_layer.executable_asset_keys >= {
        AssetKey(["churn", "candidate_model"]),
        AssetKey(["churn", "production_model"]),
    }


def test_resources_and_validation(defs):
    assert {"lake", "registry"} <= set(defs.resources)
    Definitions.validate_loadable(defs)


def test_specs_from_the_environment_become_asset_groups(tmp_path):
    spec = make_spec("fraud_like")
    defs = build_definitions([spec], home=tmp_path)
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    assert keys == {AssetKey(["fraud_like", a]) for a in ASSETS}


def test_dagster_validates_the_workspace(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RETRAIN_SPECS", "MLFLOW_TRACKING_URI", "DAGSTER_HOME")}
    env["RETRAIN_HOME"] = str(tmp_path / "home")
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", str(REPO / "workspace.yaml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "All code locations passed validation" in done.stdout + done.stderr


def test_the_automation_sensor_evaluates_the_conditions_as_the_code_server_does(platform):
    # At the real wall clock the test spec's days (March 2026) are long past, so the newest landed partition is
    # far from the partitions' latest day: the volume trigger still fires on it.
    sensor = platform.defs.resolve_sensor_def(AUTOMATION_SENSOR)
    first = sensor(build_sensor_context(instance=platform.instance, definitions=platform.defs))
    assert first.run_requests == []  # Dagster's initial evaluation
    assert all(run.success for run in platform.land_and_ingest(3))
    context = build_sensor_context(instance=platform.instance, definitions=platform.defs, cursor=first.cursor)
    [request] = sensor(context).run_requests
    assert set(request.asset_selection) == {platform.keys.candidate_model, platform.keys.production_model}


def test_no_model_sets_its_own_max_runtime_yet(defs):
    for spec in load_specs([EXAMPLES]):
        assert max_runtime_seconds(spec) is None and run_tags(spec) == {}
    assert {s.name for s in defs.sensors if isinstance(s, AutomationConditionSensorDefinition)} == {AUTOMATION_SENSOR}


def test_a_model_with_its_own_max_runtime_has_an_automation_sensor_tagging_its_runs(platform_factory, tmp_path):
    other = make_spec()
    slow = make_spec(training={**other.training.model_dump(), "max_runtime_minutes": 120})
    assert max_runtime_seconds(slow) == 7200 and max_runtime_seconds(other) is None
    defs = build_definitions([slow, other], home=tmp_path)
    automation = {s.name: s for s in defs.sensors if isinstance(s, AutomationConditionSensorDefinition)}
    assert set(automation) == {AUTOMATION_SENSOR, automation_sensor_name(slow.name)}
    graph = defs.resolve_asset_graph()
    own = automation[automation_sensor_name(slow.name)]
    assert own.run_tags == {"dagster/max_runtime": "7200"}
    assert {k.path[0] for k in own.asset_selection.resolve(graph)} == {slow.name}
    assert {k.path[0] for k in automation[AUTOMATION_SENSOR].asset_selection.resolve(graph)} == {other.name}
    Definitions.validate_loadable(defs)

    # the model's own sensor launches its retrain with the tag run monitoring reads
    platform = platform_factory(slow)
    sensor = platform.defs.resolve_sensor_def(automation_sensor_name(slow.name))
    first = sensor(build_sensor_context(instance=platform.instance, definitions=platform.defs))
    assert all(run.success for run in platform.land_and_ingest(3))
    context = build_sensor_context(instance=platform.instance, definitions=platform.defs, cursor=first.cursor)
    [request] = sensor(context).run_requests
    assert request.tags["dagster/max_runtime"] == "7200"
    assert platform.keys.candidate_model in request.asset_selection
