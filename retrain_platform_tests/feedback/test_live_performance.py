"""Delayed labels: traffic served by the real service, labels landing days later, live performance and its trigger.

From the seeded state (v1 champion). Requests go through ``retrain serve``'s app in-process, so the prediction
log is the one the service writes; label files land in the spec's ``feedback.path``; the feedback sensor and the
runs it requests are evaluated and executed on the real instance, as the daemon would.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from dagster import build_sensor_context
from sklearn.metrics import roc_auc_score

from retrain_platform.automation.reasons import TRIGGER_TAG
from retrain_platform.feedback.sensor import ROLLBACK_BY, feedback_sensor_name
from retrain_platform.serving.loaded import prepare
from retrain_platform.serving.prediction_log import LogEntry, entries_table
from retrain_platform_tests.conftest import QUIET, credit_frame
from retrain_platform_tests.serving.served import PREDICT, as_records, move_alias, second_version, served
from retrain_platform_tests.training.seeded import SEEDED_MODEL, seeded_platforms

FEEDBACK = {"path": "feedback/credit", "min_labels": 100, "label_delay_days": 2}
TRIGGERS = {"drift": True, "performance_floor": 0.55}
TODAY = dt.datetime.now(dt.UTC).date().isoformat()  # the prediction log's days are UTC days of traffic


@pytest.fixture
def seeded(tmp_path, tmp_path_factory):
    with seeded_platforms(tmp_path, tmp_path_factory) as make:
        yield make


def serve_day(platform, shift: float = 0.0, requests: int = 6, rows: int = 50):
    """Send a day of traffic; returns the rows sent with their request id, row and answered probability."""
    frame = credit_frame(dt.date(2026, 6, 1), rows=requests * rows, shift=shift, seed=7)
    sent = []
    with served(platform) as client:
        for i in range(requests):
            chunk = frame.iloc[i * rows : (i + 1) * rows]
            answer = client.post(
                PREDICT,
                json={"records": as_records(chunk.drop(columns="defaulted"))},
                headers={"X-Request-ID": f"req-{i}"},
            )
            assert answer.status_code == 200, answer.text
            sent.append(chunk.assign(request_id=f"req-{i}", row=range(len(chunk)), answer=answer.json()["predictions"]))
    return pd.concat(sent, ignore_index=True)


def land_labels(platform, day: str, labels: pd.DataFrame) -> None:
    folder = platform.home / FEEDBACK["path"]
    folder.mkdir(parents=True, exist_ok=True)
    labels.to_parquet(folder / f".{day}.partial")
    (folder / f".{day}.partial").replace(folder / f"{day}.parquet")


class Feedback:
    """The feedback sensor of a platform, its cursor kept across ticks, and the runs it requests executed."""

    def __init__(self, platform):
        self.platform, self.cursor = platform, None

    def tick(self) -> list:
        sensor = self.platform.defs.resolve_sensor_def(feedback_sensor_name(SEEDED_MODEL))
        context = build_sensor_context(
            instance=self.platform.instance,
            cursor=self.cursor,
            resources={"lake": self.platform.lake, "registry": self.platform.registry},
        )
        result = sensor(context)
        self.cursor = getattr(result, "cursor", None) or context.cursor
        requests = list(getattr(result, "run_requests", None) or [])
        runs = []
        for request in requests:
            job = self.platform.defs.resolve_job_def(request.job_name)
            runs.append(
                job.execute_in_process(
                    instance=self.platform.instance,
                    partition_key=request.partition_key,
                    tags=request.tags,
                    run_config=QUIET,
                    raise_on_error=False,
                )
            )
        return runs


def live(platform) -> tuple[dict, dict]:
    """The newest live_performance materialization's metadata, and its checks' latest results by name."""
    [record] = platform.instance.fetch_materializations(platform.keys.live_performance, limit=1).records
    meta = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    storage = platform.instance.event_log_storage
    checks = {}
    for key in (platform.keys.live_performance_check, platform.keys.prediction_drift_check):
        [latest] = storage.get_asset_check_execution_history(key, limit=1)
        checks[key.name] = latest.evaluation
    return meta, checks


def test_labels_that_come_back_days_later_score_the_answers_the_service_gave(seeded):
    platform = seeded(feedback=FEEDBACK, triggers=TRIGGERS)
    feedback = Feedback(platform)
    sent = serve_day(platform)
    assert feedback.tick() == []  # no labels yet

    labelled = sent.iloc[:240]  # not every prediction gets a label
    land_labels(platform, TODAY, labelled[["request_id", "row", "defaulted"]])
    [run] = feedback.tick()

    assert run.success
    meta, checks = live(platform)
    assert (meta["predictions"], meta["labelled"], meta["champion_version"]) == (300, 240, "1")
    expected = roc_auc_score(labelled["defaulted"], labelled["answer"])
    assert meta["roc_auc"] == pytest.approx(expected, abs=1e-12)
    assert checks["live_performance"].passed, checks["live_performance"].description
    assert checks["prediction_drift"].passed, checks["prediction_drift"].description
    assert feedback.tick() == []  # the same file again: nothing to re-score


def test_a_live_decline_starts_one_retrain_that_says_why(seeded):
    platform = seeded(feedback=FEEDBACK, triggers=TRIGGERS)
    feedback = Feedback(platform)
    sent = serve_day(platform)
    # The world changed: the labels now disagree with the model.
    land_labels(platform, TODAY, sent.assign(defaulted=1 - sent["defaulted"])[["request_id", "row", "defaulted"]])

    [scored] = feedback.tick()
    meta, checks = live(platform)
    assert scored.success and not checks["live_performance"].passed
    assert meta["roc_auc"] < 0.5 and "below the floor 0.55" in checks["live_performance"].description
    [retrain] = feedback.tick()

    assert retrain.success and retrain.dagster_run.tags[TRIGGER_TAG] == "live"
    newest = max(platform.registry.versions(SEEDED_MODEL), key=lambda v: int(v.version))
    assert newest.tags["retrain/trigger"] == "live"
    assert newest.tags["reason"].startswith(f"live: live performance on {TODAY}")
    assert feedback.tick() == []  # the episode was answered once


def test_too_few_labels_wait_and_a_bad_label_file_is_named(seeded):
    platform = seeded(feedback=FEEDBACK, triggers=TRIGGERS)
    feedback = Feedback(platform)
    sent = serve_day(platform)
    yesterday = (dt.date.fromisoformat(TODAY) - dt.timedelta(days=1)).isoformat()
    land_labels(platform, TODAY, sent.iloc[:20][["request_id", "row", "defaulted"]])
    land_labels(platform, yesterday, sent.iloc[:5][["request_id", "defaulted"]])  # before the traffic: not matched
    folder = platform.home / FEEDBACK["path"]
    tomorrow = (dt.date.fromisoformat(TODAY) + dt.timedelta(days=1)).isoformat()
    pd.DataFrame({"id": ["req-0"], "label": [1]}).to_parquet(folder / f"{tomorrow}.parquet")

    runs = feedback.tick()

    assert runs and all(run.success for run in runs)
    meta, checks = live(platform)
    assert meta["labelled"] == 20
    description = checks["live_performance"].description
    assert checks["live_performance"].passed and "waiting for labels: 20 of 100" in description
    assert f"{tomorrow}.parquet: no column(s) ['request_id', 'defaulted']" in description
    assert (folder / f"{tomorrow}.parquet").exists()  # nothing is lost


def test_answers_unlike_the_holdout_are_prediction_drift(seeded):
    platform = seeded(feedback=FEEDBACK, triggers=TRIGGERS)
    feedback = Feedback(platform)
    sent = serve_day(platform, shift=3.0)
    land_labels(platform, TODAY, sent[["request_id", "row", "defaulted"]])

    [run] = feedback.tick()

    assert run.success
    meta, checks = live(platform)
    assert not checks["prediction_drift"].passed and meta["prediction_drift"] >= 0.2
    assert np.isfinite(meta["prediction_drift"])


def test_a_feedback_key_must_be_request_id_or_a_feature():
    from retrain_platform.spec import SpecError  # noqa: F401 (the loader's error type, for the message below)
    from retrain_platform_tests.conftest import make_spec

    with pytest.raises(ValueError, match="feedback.key 'customer' is neither request_id nor a feature"):
        make_spec(feedback={"path": "labels", "key": "customer"})
    assert make_spec(feedback={"path": "labels", "key": "channel"}).feedback.key == "channel"


def log_day(platform, day: str, version: str, frame: pd.DataFrame, request: str) -> None:
    """Write one day of the prediction log as ``retrain serve`` writes it, answered by ``version``."""
    info = platform.registry.version(SEEDED_MODEL, version)
    model = prepare(platform.spec, info, platform.registry.load(info))
    features = frame[list(platform.spec.features)]
    entry = LogEntry(
        SEEDED_MODEL,
        version,
        request,
        dt.datetime.fromisoformat(day).replace(hour=12, tzinfo=dt.UTC),
        {name: features[name].tolist() for name in features},
        model.predict(features),
        model.labels,
    )
    platform.lake.write_predictions(SEEDED_MODEL, day, entries_table([entry], platform.spec), "0")


def test_a_champion_worse_live_than_its_predecessor_is_rolled_back_once(seeded):
    spec_feedback = {**FEEDBACK, "rollback_margin": 0.05, "rollback_days": 3}
    platform = seeded(feedback=spec_feedback, triggers={"drift": True})
    v2 = second_version(platform)
    if platform.registry.champion(SEEDED_MODEL).version != v2:
        move_alias(platform, v2)
    today = dt.date.fromisoformat(TODAY)
    for back in range(6, 0, -1):
        day = (today - dt.timedelta(days=back)).isoformat()
        version = "1" if back > 3 else v2
        frame = credit_frame(dt.date.fromisoformat(day), rows=200, seed=back)
        log_day(platform, day, version, frame, f"req-{day}")
        # v1's days were right; on v2's the labels disagree with the model.
        truth = frame["defaulted"] if version == "1" else 1 - frame["defaulted"]
        land_labels(platform, day, pd.DataFrame({"request_id": f"req-{day}", "row": range(200), "defaulted": truth}))
    feedback = Feedback(platform)

    assert len(feedback.tick()) == 6 and platform.registry.champion(SEEDED_MODEL).version == v2
    feedback.tick()

    assert platform.registry.champion(SEEDED_MODEL).version == "1"
    [record] = platform.instance.fetch_materializations(platform.keys.production_model, limit=1).records
    meta = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    assert (meta["decision"], meta["from_version"], meta["by"]) == ("rollback", v2, ROLLBACK_BY)
    assert meta["reason"].startswith(f"automatic: v{v2}'s live roc_auc") and "worse than v1's" in meta["reason"]
    feedback.tick()
    assert platform.registry.champion(SEEDED_MODEL).version == "1"  # no rollback back and forth


def test_a_day_of_traffic_that_ended_is_scored_without_labels_and_prediction_drift_can_retrain(seeded):
    platform = seeded(feedback={**FEEDBACK, "retrain_on_prediction_drift": True}, triggers={"drift": True})
    yesterday = (dt.date.fromisoformat(TODAY) - dt.timedelta(days=1)).isoformat()
    log_day(platform, yesterday, "1", credit_frame(dt.date(2026, 6, 1), rows=200, shift=3.0), "req-y")
    feedback = Feedback(platform)

    [scored] = feedback.tick()  # no label file: the ended day is scored for its answers alone
    meta, checks = live(platform)
    assert scored.success and meta["labelled"] == 0
    assert not checks["prediction_drift"].passed and checks["live_performance"].passed
    [retrain] = feedback.tick()

    assert retrain.success and retrain.dagster_run.tags[TRIGGER_TAG] == "prediction_drift"
    newest = max(platform.registry.versions(SEEDED_MODEL), key=lambda v: int(v.version))
    assert newest.tags["reason"].startswith(f"prediction_drift: prediction drift on {yesterday}")
    assert feedback.tick() == []  # scored once, answered once
