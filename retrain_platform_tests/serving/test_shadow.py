"""Shadow scoring: the waiting challenger answers every request too, in the prediction log only.

From the seeded state: v1 is champion and a strict gate puts v2 on probation (a waiting challenger). The service
runs in-process with ``shadow`` on; the live half joins the logged answers with labels like production does.
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from retrain_platform.promotion.probation import PROBATION_TAG
from retrain_platform.serving import ServeConfig
from retrain_platform_tests.conftest import STRICT_GATE, credit_frame
from retrain_platform_tests.feedback.test_live_performance import FEEDBACK, TODAY, Feedback, land_labels, live
from retrain_platform_tests.serving.served import PREDICT, as_records, expected_positive, served
from retrain_platform_tests.training.seeded import LAST_SEEDED_DAY, SEEDED_MODEL, seeded_platforms

SHADOWING = ServeConfig(poll_seconds=0.05, log_flush_rows=50, log_flush_seconds=0.2, shadow=True)


@pytest.fixture
def with_challenger(tmp_path, tmp_path_factory):
    """The seeded platform with v2 waiting on probation (its holdout could not tell it from v1)."""
    with seeded_platforms(tmp_path, tmp_path_factory) as make:
        platform = make(
            training={"window_days": 2, "min_partitions": 1, "min_rows": 200, "holdout_fraction": 0.5},
            gate={**STRICT_GATE, "probation_days": 2},
            feedback=FEEDBACK,
            triggers={"drift": True, "performance_floor": 0.55},
        )
        day = LAST_SEEDED_DAY + dt.timedelta(days=1)
        platform.land(day, credit_frame(day, shift=1.5))
        assert platform.ingest(day).success and platform.retrain().success
        assert platform.registry.champion(SEEDED_MODEL).version == "1"
        assert PROBATION_TAG in platform.registry.version(SEEDED_MODEL, "2").tags
        yield platform


def test_the_challenger_answers_in_the_log_only_and_its_live_metric_is_reported(with_challenger):
    platform = with_challenger
    frame = credit_frame(dt.date(2026, 6, 2), rows=300, seed=3)
    with served(platform, SHADOWING) as client:
        deadline = time.monotonic() + 10
        while client.service.follower.shadow(SEEDED_MODEL) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.service.follower.shadow(SEEDED_MODEL).version == "2"
        answer = client.post(
            PREDICT, json={"records": as_records(frame.drop(columns="defaulted"))}, headers={"X-Request-ID": "shadowed"}
        )
    assert answer.status_code == 200 and answer.json()["version"] == "1"  # the client only ever sees the champion

    logged = platform.lake.read_predictions(SEEDED_MODEL, TODAY)
    features = frame.drop(columns="defaulted")
    np.testing.assert_allclose(logged["_prediction"], expected_positive(platform, "1", features), rtol=1e-9)
    np.testing.assert_allclose(logged["_shadow_prediction"], expected_positive(platform, "2", features), rtol=1e-9)
    assert set(logged["_shadow_version"]) == {"2"}

    land_labels(
        platform, TODAY, frame.assign(request_id="shadowed", row=range(len(frame)))[["request_id", "row", "defaulted"]]
    )
    [run] = Feedback(platform).tick()
    meta, checks = live(platform)

    assert run.success and meta["shadow_version"] == "2" and meta["shadow_labelled"] == 300
    assert meta["shadow_roc_auc"] == pytest.approx(roc_auc_score(frame["defaulted"], logged["_shadow_prediction"]))
    assert meta["champion_roc_auc_on_shadow_rows"] == pytest.approx(meta["roc_auc"])
    assert "shadow v2 roc_auc" in checks["live_performance"].description


def test_without_shadow_nothing_but_the_champion_is_logged(with_challenger):
    platform = with_challenger
    frame = credit_frame(dt.date(2026, 6, 2), rows=20, seed=3).drop(columns="defaulted")
    with served(platform) as client:
        assert client.post(PREDICT, json={"records": as_records(frame)}).status_code == 200
        assert client.service.follower.shadow(SEEDED_MODEL) is None

    logged = platform.lake.read_predictions(SEEDED_MODEL, TODAY)
    assert len(logged) == 20 and not [c for c in logged.columns if c.startswith("_shadow")]
