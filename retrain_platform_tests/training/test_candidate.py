"""``candidate_model``: trained on the valid partitions of its window, registered and documented in MLflow."""

from __future__ import annotations

import datetime as dt
import json
from importlib.metadata import version as package_version

import pytest
from sklearn.metrics import roc_auc_score

from retrain_platform.registry import FITTED_THROUGH_TAG
from retrain_platform.storage.lake import file_sha256
from retrain_platform.training.assets import spec_fingerprint
from retrain_platform_tests.conftest import START, credit_frame, make_spec


def day(i: int) -> dt.date:
    return START + dt.timedelta(days=i)


def failure_message(run) -> str:
    """The description of the step failure of a failed run."""
    failures = run.get_step_failure_events()
    assert failures, "the run did not fail"
    data = failures[0].step_failure_data
    return data.user_failure_data.description if data.user_failure_data else data.error.message


def test_candidate_trains_on_valid_partitions_of_its_window_and_is_registered(platform_factory, tmp_path):
    spec = make_spec(training={"window_days": 4, "min_partitions": 3, "min_rows": 200, "holdout_fraction": 0.3})
    platform = platform_factory(spec)
    keys, name = platform.keys, spec.name
    platform.land_and_ingest(2, start=day(0))  # day 0 will fall outside the 4-day window ending on day 4
    platform.land(day(2), credit_frame(day(2)).assign(age=-5))  # out of range: quarantined
    assert not platform.ingest(day(2)).success
    platform.land_and_ingest(2, start=day(3))
    assert platform.lake.is_quarantined(name, day(2).isoformat())

    run = platform.retrain(asset_selection=[keys.candidate_model])
    assert run.success

    expected = [day(1).isoformat(), day(3).isoformat(), day(4).isoformat()]
    versions = platform.registry.versions(name)
    assert [v.version for v in versions] == ["1"]
    info = versions[0]
    assert json.loads(info.tags["training.partitions"]) == expected
    assert info.tags["training.window_start"] == day(1).isoformat()
    assert info.tags["training.window_end"] == day(4).isoformat()
    assert info.tags["spec.fingerprint"] == spec_fingerprint(spec)
    assert info.tags["code.version"] == package_version("retrain_platform")
    assert info.tags["dagster.run_id"] == run.run_id
    # the volume check of the newest partition was failing ("retrain due"), so that is the recorded reason
    assert info.tags["reason"].startswith("volume: retrain due")

    mlflow_run = platform.registry.client.get_run(info.run_id)
    assert mlflow_run.data.tags["training.partitions"] == info.tags["training.partitions"]
    params = mlflow_run.data.params
    assert params["estimator"] == "sklearn.linear_model.LogisticRegression"
    assert params["max_iter"] == "300"
    assert params["window_days"] == "4"
    metrics = mlflow_run.data.metrics
    assert metrics["train_rows"] + metrics["holdout_rows"] == 900
    assert metrics["holdout_rows"] == 270
    assert 0.5 < metrics["holdout_roc_auc"] <= 1.0

    downloaded = platform.registry.client.download_artifacts(info.run_id, "training", str(tmp_path / "dl"))
    hashes = json.loads((tmp_path / "dl" / "training" / "partitions.json").read_text())
    assert downloaded.endswith("training")
    assert hashes == {p: file_sha256(platform.lake.raw_path(spec, p)) for p in expected}
    assert json.loads((tmp_path / "dl" / "training" / "spec.json").read_text())["name"] == name

    event = platform.instance.get_latest_materialization_event(keys.candidate_model)
    meta = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    assert meta["version"] == "1"
    assert meta["partitions"] == 3
    assert (meta["window_start"], meta["window_end"]) == (expected[0], expected[-1])
    assert meta["mlflow_run_id"] == info.run_id
    assert meta["model_uri"] == f"models:/{name}/1"
    assert meta["holdout_roc_auc"] == pytest.approx(metrics["holdout_roc_auc"])

    # the holdout the gate will use is the newest 30% of the window: rows of the last day only
    holdout, predictions = platform.lake.read_holdout(name, "1")
    newest = platform.lake.read_features(name, [day(4).isoformat()])
    assert len(holdout) == 270
    assert holdout["income"].isin(newest["income"]).all()
    assert set(holdout["_partition"]) == {day(4).isoformat()}
    # kept with the rows: the validation fit's probabilities, which is what the holdout metric scored
    assert predictions.shape == (270,)
    assert metrics["holdout_roc_auc"] == pytest.approx(roc_auc_score(holdout["defaulted"], predictions))
    # the registered model was refit on the whole window (the default), holdout included
    assert info.tags[FITTED_THROUGH_TAG] == expected[-1]
    assert meta["refit_on_full_window"] is True
    assert meta["validation_rows"] == 630  # no older day within a window's length of the holdout: just the rest

    # and the registered model loads and predicts
    model = platform.registry.load(info)
    assert model.predict_proba(newest[list(spec.features)].head(5).astype({"has_mortgage": bool})).shape == (5, 2)


@pytest.mark.parametrize("refit", [True, False])
def test_the_validation_fit_learns_from_a_window_as_long_as_the_registered_models(platform_factory, refit):
    # window days 1..4, holdout days 3..4. Refit on the full window, the gate's stand-in learns from a window of
    # the same length ending where the holdout begins (days 0..2 of the -1..2 window), like the champion it is
    # compared with did; without the refit the registered model is the validation fit on the window's rest.
    spec = make_spec(training={"window_days": 4, "holdout_fraction": 0.5, "refit_on_full_window": refit})
    platform = platform_factory(spec)
    platform.land_and_ingest(5, start=day(0))
    assert platform.retrain(asset_selection=[platform.keys.candidate_model]).success

    event = platform.instance.get_latest_materialization_event(platform.keys.candidate_model)
    meta = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    assert (meta["window_start"], meta["train_rows"], meta["holdout_rows"]) == (day(1).isoformat(), 600, 600)
    assert meta["validation_rows"] == (900 if refit else 600)
    assert meta["validation_window_start"] == (day(0) if refit else day(1)).isoformat()
    holdout, _ = platform.lake.read_holdout(spec.name, "1")
    assert set(holdout["_partition"]) == {day(3).isoformat(), day(4).isoformat()}


def test_training_refuses_too_little_data_with_a_clear_message(platform_factory):
    spec = make_spec(training={"window_days": 10, "min_partitions": 3, "min_rows": 1000, "holdout_fraction": 0.3})
    platform = platform_factory(spec)
    keys = platform.keys

    platform.land_and_ingest(2)
    run = platform.retrain(asset_selection=[keys.candidate_model])
    assert not run.success
    assert failure_message(run) == (
        "only 2 valid partition(s) in the last 10 days; training.min_partitions is 3. Land (or fix quarantined) "
        "partitions, or lower training.min_partitions."
    )

    platform.land_and_ingest(1, start=day(2))  # 3 partitions, 900 rows < min_rows 1000
    run = platform.retrain(asset_selection=[keys.candidate_model])
    assert not run.success
    assert failure_message(run) == (
        "only 900 valid row(s) in the training window 2026-03-01..2026-03-03; training.min_rows is 1000. "
        "Land more data or lower training.min_rows."
    )
    assert platform.registry.versions(spec.name) == []
    assert platform.instance.get_latest_materialization_event(keys.candidate_model) is None
