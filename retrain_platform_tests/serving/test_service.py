"""``retrain serve`` in-process (FastAPI's TestClient, the app's real lifespan) on a trained, promoted champion."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from retrain_platform.operations import rollback
from retrain_platform.serving import ServeConfig, build_service, create_app
from retrain_platform_tests.conftest import START, credit_frame
from retrain_platform_tests.serving.served import (
    NEXT,
    PREDICT,
    TEST_CONFIG,
    as_columns,
    as_records,
    expected_positive,
    features_of,
    move_alias,
    second_version,
    served,
)
from retrain_platform_tests.training.seeded import LAST_SEEDED_DAY, SEEDED_MODEL, seeded_platforms


@pytest.fixture
def seeded(tmp_path, tmp_path_factory):
    with seeded_platforms(tmp_path, tmp_path_factory) as make:
        yield make()


def scraped(client) -> dict[tuple[str, tuple], float]:
    """Every sample of ``/metrics`` as ``{(name, sorted labels): value}``."""
    text = client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for(condition, timeout: float = 20.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def test_answers_a_landed_day_as_the_champion_does_in_both_request_forms(seeded):
    frame = features_of(seeded, LAST_SEEDED_DAY)
    expected = expected_positive(seeded, "1", frame)
    with served(seeded) as client:
        by_records = client.post(PREDICT, json={"records": as_records(frame)}, headers={"X-Request-ID": "day-3"})
        by_columns = client.post(PREDICT, json={"columns": as_columns(frame)})
        one = client.post(PREDICT, json={"records": as_records(frame.iloc[[5]])})

    assert by_records.status_code == 200, by_records.text
    body = by_records.json()
    assert (body["model"], body["version"], body["request_id"]) == (SEEDED_MODEL, "1", "day-3")
    assert by_records.headers["X-Request-ID"] == "day-3"
    np.testing.assert_allclose(body["predictions"], expected, rtol=1e-12, atol=1e-15)
    assert by_columns.status_code == 200
    np.testing.assert_allclose(by_columns.json()["predictions"], expected, rtol=1e-12, atol=1e-15)
    assert len(by_columns.json()["request_id"]) == 32  # generated when the client sends none
    np.testing.assert_allclose(one.json()["predictions"], expected[[5]], rtol=1e-12)


def test_bad_input_is_a_422_naming_the_column_the_problem_and_what_to_send(seeded):
    records = as_records(features_of(seeded, LAST_SEEDED_DAY).head(3))
    del records[0]["age"]
    records[2]["income"] = "high"
    with served(seeded) as client:
        answer = client.post(PREDICT, json={"records": records}, headers={"X-Request-ID": "bad-1"})
        not_json = client.post(PREDICT, content=b"{nope", headers={"Content-Type": "application/json"})
        metrics = scraped(client)

    assert answer.status_code == 422
    body = answer.json()
    assert body["request_id"] == "bad-1"
    problems = {p["column"]: p for p in body["problems"]}
    assert problems["age"]["problem"] == "missing column" and problems["age"]["rows"] == [0]
    assert problems["income"]["problem"] == "wrong type: float column got string"
    assert problems["income"]["expected"] == "send a JSON number between 0 and 1e+06"
    assert "income: wrong type: float column got string in row(s) [2], e.g. 'high'" in body["detail"]
    assert not_json.status_code == 422 and not_json.json()["problems"][0]["problem"].startswith("not JSON")
    assert sample(metrics, "retrain_serve_errors_total", model=SEEDED_MODEL, kind="invalid_input") == 2
    assert sample(metrics, "retrain_serve_requests_total", model=SEEDED_MODEL, status="422") == 2


def test_health_readiness_and_an_unknown_model(seeded):
    with served(seeded) as client:
        assert client.get("/healthz").json() == {"status": "alive"}
        assert client.get("/readyz").json() == {"ready": True, "models": {SEEDED_MODEL: "1"}}
        unknown = client.post("/v1/models/nope/predict", json={"records": [{}]})
        assert unknown.status_code == 404
        assert unknown.json()["detail"] == f"no model 'nope' is served here; served: ['{SEEDED_MODEL}']"
        metrics = scraped(client)
    # Unserved names share one label value, so random names cannot grow the series.
    assert sample(metrics, "retrain_serve_requests_total", model="(unknown)", status="404") == 1


def test_a_model_without_a_champion_is_not_ready(platform):
    service = build_service({platform.spec.name: platform.spec}, platform.registry, platform.lake, TEST_CONFIG)
    path = f"/v1/models/{platform.spec.name}/predict"
    with TestClient(create_app(service)) as client:
        ready = client.get("/readyz")
        malformed = client.post(path, json={"records": [{}]})
        valid = client.post(
            path, json={"records": as_records(credit_frame(START, rows=1)[list(platform.spec.features)])}
        )

    assert ready.status_code == 503
    assert ready.json()["models"] == {platform.spec.name: None}
    assert "promote a version" in ready.json()["detail"]
    # A request is checked first: a malformed one is told what is wrong even before a champion exists.
    assert malformed.status_code == 422
    assert valid.status_code == 503 and "no champion loaded yet" in valid.json()["detail"]


class Firing:
    """A thread sending single-row requests until stopped, recording every answer."""

    def __init__(self, client, records: list[dict]):
        self.client, self.records = client, records
        self.answers: list[tuple[int, str | None, float | None, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self):
        i = 0
        while not self._stop.is_set():
            row = i % len(self.records)
            answer = self.client.post(PREDICT, json={"records": [self.records[row]]})
            body = answer.json()
            self.answers.append((answer.status_code, body.get("version"), (body.get("predictions") or [None])[0], row))
            i += 1

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def versions_seen(self) -> list[str]:
        """The versions that answered, in order, each run of answers by one version counted once."""
        seen: list[str] = []
        for _, version, _, _ in list(self.answers):
            if not seen or seen[-1] != version:
                seen.append(version)
        return seen


def test_alias_moves_are_followed_with_no_failed_request(seeded):
    v2 = second_version(seeded)
    if seeded.registry.champion(SEEDED_MODEL).version != "1":
        move_alias(seeded, "1")
    frame = features_of(seeded, NEXT).head(50)
    records = as_records(frame)
    expected = {v: expected_positive(seeded, v, frame) for v in ("1", v2)}

    with served(seeded) as client, Firing(client, records) as firing:
        wait_for(lambda: len(firing.answers) > 20, what="answers from v1")
        move_alias(seeded, v2, reason="promotion")  # as the gate moves it
        wait_for(lambda: firing.versions_seen()[-1:] == [v2], what=f"v{v2} answering")
        count = len(firing.answers)
        wait_for(lambda: len(firing.answers) > count + 20, what="more answers")
        # and back, as an operator's rollback moves it
        rollback(seeded.spec, seeded.registry, seeded.lake, seeded.instance, to_version="1", reason="test", who="t")
        wait_for(lambda: firing.versions_seen()[-1:] == ["1"], what="v1 answering again")
        count = len(firing.answers)
        wait_for(lambda: len(firing.answers) > count + 20, what="more answers")
        metrics = scraped(client)

    statuses = {status for status, *_ in firing.answers}
    assert statuses == {200}, f"failed requests during the moves: {statuses}"
    assert firing.versions_seen() == ["1", v2, "1"]
    for _, version, prediction, row in firing.answers:
        assert prediction == pytest.approx(expected[version][row], rel=1e-12), "answered by a mixed version"
    assert sample(metrics, "retrain_serve_model_loads_total", model=SEEDED_MODEL, outcome="loaded") == 3
    assert sample(metrics, "retrain_serve_model_version", model=SEEDED_MODEL) == 1


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(seeded):
    v2 = second_version(seeded)
    if seeded.registry.champion(SEEDED_MODEL).version != "1":
        move_alias(seeded, "1")
    broken = {v2}

    def load(info):
        if info.version in broken:
            raise OSError(f"artifact of v{info.version} unreadable (injected)")
        return seeded.registry.load(info)

    records = as_records(features_of(seeded, LAST_SEEDED_DAY).head(10))
    with served(seeded, load=load) as client, Firing(client, records) as firing:
        move_alias(seeded, v2)
        wait_for(
            lambda: (
                sample(scraped(client), "retrain_serve_model_loads_total", model=SEEDED_MODEL, outcome="failed") >= 3
            ),
            what="three failed loads",
        )
        assert client.get("/readyz").json() == {"ready": True, "models": {SEEDED_MODEL: "1"}}
        broken.clear()  # the artifact is fixed: the next poll loads it
        wait_for(lambda: firing.versions_seen()[-1:] == [v2], what=f"v{v2} answering once it loads")

    assert {status for status, *_ in firing.answers} == {200}
    assert firing.versions_seen() == ["1", v2]


def test_metrics_expose_requests_latency_errors_version_and_the_prediction_distribution(seeded):
    frame = features_of(seeded, LAST_SEEDED_DAY).head(20)
    expected = expected_positive(seeded, "1", frame)
    with served(seeded) as client:
        for i in range(4):
            assert client.post(PREDICT, json={"records": as_records(frame.iloc[i * 5 : i * 5 + 5])}).status_code == 200
        client.post(PREDICT, json={"records": [{"income": 1}]})
        metrics = scraped(client)
        text = client.get("/metrics").text

    assert sample(metrics, "retrain_serve_requests_total", model=SEEDED_MODEL, status="200") == 4
    assert sample(metrics, "retrain_serve_request_seconds_count", model=SEEDED_MODEL) == 5
    assert sample(metrics, "retrain_serve_request_seconds_bucket", model=SEEDED_MODEL, le="+Inf") == 5
    assert sample(metrics, "retrain_serve_errors_total", model=SEEDED_MODEL, kind="invalid_input") == 1
    assert sample(metrics, "retrain_serve_predicted_rows_total", model=SEEDED_MODEL) == 20
    assert sample(metrics, "retrain_serve_model_version", model=SEEDED_MODEL) == 1
    info = [k for k in metrics if k[0] == "retrain_serve_model_info"]
    assert len(info) == 1 and ("version", "1") in info[0][1]
    distribution = {"model": SEEDED_MODEL, "label": "1"}
    assert sample(metrics, "retrain_serve_prediction_probability_count", **distribution) == 20
    assert sample(metrics, "retrain_serve_prediction_probability_sum", **distribution) == pytest.approx(expected.sum())
    assert sample(metrics, "retrain_serve_prediction_probability_bucket", le="0.5", **distribution) == (
        (expected <= 0.5).sum()
    )
    assert "retrain_serve_prediction_log_dropped_total" in text and "_created" not in text


def test_the_prediction_log_holds_every_answer_after_a_clean_shutdown(seeded):
    # Nothing is flushed before the stop (huge thresholds): the shutdown alone must write everything.
    config = ServeConfig(poll_seconds=0.05, log_flush_rows=10**6, log_flush_seconds=3600)
    frame = features_of(seeded, LAST_SEEDED_DAY)
    sizes = [1, 7, 1, 100, 3, 1, 50]
    answers, offset = {}, 0
    with served(seeded, config) as client:
        for i, size in enumerate(sizes):
            rows = frame.iloc[offset : offset + size]
            answer = client.post(PREDICT, json={"records": as_records(rows)}, headers={"X-Request-ID": f"r{i}"})
            assert answer.status_code == 200
            answers[f"r{i}"] = (rows.reset_index(drop=True), answer.json()["predictions"])
            offset += size
        assert not (seeded.lake.model_dir(SEEDED_MODEL) / "predictions").exists()

    [day] = (seeded.lake.model_dir(SEEDED_MODEL) / "predictions").iterdir()
    log = pd.read_parquet(day)
    assert day.name == pd.Timestamp.now(tz="UTC").date().isoformat()
    assert len(log) == sum(sizes)
    assert set(log["_version"]) == {"1"}
    assert log["_time"].dt.tz is not None
    for request_id, (rows, predictions) in answers.items():
        logged = log[log["_request_id"] == request_id].sort_values("_row").reset_index(drop=True)
        assert list(logged["_row"]) == list(range(len(rows)))
        np.testing.assert_allclose(logged["_prediction"], predictions, rtol=1e-15)
        pd.testing.assert_frame_equal(logged[list(seeded.spec.features)], rows, check_dtype=True)


def test_a_full_buffer_drops_records_and_counts_them_without_failing_requests(seeded):
    config = ServeConfig(poll_seconds=0.05, max_rows=5, log_capacity_rows=5, log_flush_rows=5, log_flush_seconds=3600)
    records = as_records(features_of(seeded, LAST_SEEDED_DAY).head(2))
    with served(seeded, config) as client:
        statuses = [client.post(PREDICT, json={"records": records}).status_code for _ in range(3)]
        metrics = scraped(client)

    assert statuses == [200, 200, 200]
    dropped = sample(metrics, "retrain_serve_prediction_log_dropped_total", model=SEEDED_MODEL, reason="buffer_full")
    assert dropped == 2
    assert sample(metrics, "retrain_serve_prediction_log_buffered") == 4
    assert len(pd.read_parquet(seeded.lake.model_dir(SEEDED_MODEL) / "predictions")) == 4
