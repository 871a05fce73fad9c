"""Shadow scoring: the waiting challenger answers every request too, in the prediction log only.

From the seeded state: v1 is champion and a strict gate puts v2 on probation (a waiting challenger). The service
runs in-process with ``shadow`` on; the live half joins the logged answers with labels like production does.
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
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
def seeded(tmp_path, tmp_path_factory):
    with seeded_platforms(tmp_path, tmp_path_factory) as make:
        yield make


def land_shifted(platform, i: int) -> None:
    day = LAST_SEEDED_DAY + dt.timedelta(days=i)
    platform.land(day, credit_frame(day, shift=1.5))
    assert platform.ingest(day).success


def challenger(seeded, **gate):
    """The seeded platform with v2 waiting on probation (its holdout could not tell it from v1)."""
    platform = seeded(
        training={"window_days": 2, "min_partitions": 1, "min_rows": 200, "holdout_fraction": 0.5},
        gate={**STRICT_GATE, "probation_days": 2, **gate},
        feedback=FEEDBACK,
        triggers={"drift": True, "performance_floor": 0.55},
    )
    land_shifted(platform, 1)
    assert platform.retrain().success
    assert platform.registry.champion(SEEDED_MODEL).version == "1"
    assert PROBATION_TAG in platform.registry.version(SEEDED_MODEL, "2").tags
    return platform


@pytest.fixture
def with_challenger(seeded):
    return challenger(seeded)


def shadow_traffic(platform, rows: int = 300):
    """Serve ``rows`` with shadow scoring on; the rows sent and what the log holds for them."""
    frame = credit_frame(dt.date(2026, 6, 2), rows=rows, seed=3)
    with served(platform, SHADOWING) as client:
        deadline = time.monotonic() + 10
        while client.service.follower.shadow(SEEDED_MODEL) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        answer = client.post(
            PREDICT, json={"records": as_records(frame.drop(columns="defaulted"))}, headers={"X-Request-ID": "shadowed"}
        )
        assert answer.status_code == 200 and answer.json()["version"] == "1"
    return frame, platform.lake.read_predictions(SEEDED_MODEL, TODAY)


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


def gate_decision(platform) -> dict:
    """Run the gate once more and return what it recorded."""
    assert platform.retrain(asset_selection=[platform.keys.production_model]).success
    return latest_decision(platform)


def latest_decision(platform) -> dict:
    """The newest production_model event's metadata (an observation or a materialization)."""
    records = [
        *platform.instance.fetch_observations(platform.keys.production_model, limit=1).records,
        *platform.instance.fetch_materializations(platform.keys.production_model, limit=1).records,
    ]
    newest = max(records, key=lambda r: r.storage_id)
    event = newest.asset_observation or newest.asset_materialization
    return {k: v.value for k, v in event.metadata.items()}


@pytest.mark.parametrize("live_favours", ["champion", "challenger"])
def test_with_shadow_days_the_challenger_needs_live_evidence_and_a_live_loss_refuses_it(seeded, live_favours):
    platform = challenger(seeded, shadow_days=1)
    land_shifted(platform, 2)
    land_shifted(platform, 3)  # the landed days alone would promote v2 (see test_probation)
    waiting = gate_decision(platform)
    assert waiting["decision"] == "probation" and "0 of 1 live shadow day(s) are judged" in waiting["reason"]

    frame, logged = shadow_traffic(platform)
    # Labels that one model ranks perfectly: the live evidence decides, whatever the landed days said.
    favoured = logged["_prediction" if live_favours == "champion" else "_shadow_prediction"]
    labels = (favoured > favoured.median()).astype(int)
    land_labels(platform, TODAY, pd.DataFrame({"request_id": "shadowed", "row": logged["_row"], "defaulted": labels}))
    assert all(run.success for run in Feedback(platform).tick())
    decided = gate_decision(platform)

    assert "live shadow on 1 day(s)" in decided["reason"]
    if live_favours == "champion":
        assert decided["decision"] == "rejected" and platform.registry.champion(SEEDED_MODEL).version == "1"
        assert "a loss beyond the tolerated" in decided["reason"]
    else:
        assert decided["decision"] == "promoted" and platform.registry.champion(SEEDED_MODEL).version == "2"


def test_shadow_days_need_feedback_and_probation():
    from retrain_platform_tests.conftest import make_spec

    with pytest.raises(ValueError, match="gate.shadow_days judges a challenger on probation"):
        make_spec(gate={**STRICT_GATE, "probation_days": 2, "shadow_days": 1})
    with pytest.raises(ValueError, match="gate.shadow_days judges a challenger on probation"):
        make_spec(gate={**STRICT_GATE, "shadow_days": 1}, feedback=FEEDBACK)


@pytest.mark.parametrize("shadow_days", [None, 1])
def test_with_shadow_days_even_a_candidate_the_holdout_prefers_waits_for_live_evidence(seeded, shadow_days):
    platform = seeded(
        training={"window_days": 2, "min_partitions": 1, "min_rows": 200, "holdout_fraction": 0.5},
        gate={**STRICT_GATE, "probation_days": 1, "shadow_days": shadow_days},
        feedback=FEEDBACK,
        triggers={"drift": True, "performance_floor": 0.55},
    )
    land_shifted(platform, 1)
    land_shifted(platform, 2)  # a candidate fit on a shifted day and held out on another: measurably better
    assert platform.retrain().success  # the candidate and, in the same run, the gate

    decided = latest_decision(platform)
    if shadow_days is None:
        assert decided["decision"] == "promoted" and platform.registry.champion(SEEDED_MODEL).version == "2"
    else:
        assert decided["decision"] == "probation" and platform.registry.champion(SEEDED_MODEL).version == "1"
        assert "and 1 live shadow day(s), then decided for good" in decided["reason"]
