"""The landing sensor follows each landing's run and requests it again when it failed for a cause that can go away.

Runs are executed in-process from the sensor's own run requests (with their tags, as the daemon launches them) on a
real instance; faults come from the fail points in the lake's write paths. The sensor's clock is passed in, so a
retry's backoff is crossed by a tick "later", not by sleeping.
"""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import DagsterRunStatus, RunRequest
from dagster._core.storage.tags import WILL_RETRY_TAG

from retrain_platform.ingest.sensor import (
    ATTEMPT_TAG,
    LANDING_TAG,
    PREVIOUS_RUN_TAG,
    RETRY_BACKOFF_CAP_SECONDS,
    fingerprint,
    landing_id,
    retry_delay,
    sensor_interval,
)
from retrain_platform.pipeline import ingest_job_name
from retrain_platform_tests.conftest import START, credit_frame
from retrain_platform_tests.ingest.driving import ended, launch, only_request, requests, skip_message, tick_at

DAY = START + dt.timedelta(days=2)
NOTHING_NEW = "no new or changed files"
ENOSPC = "lake.write_features=enospc"


def land(platform, day: dt.date = DAY, **kwargs):
    return platform.land(day, credit_frame(day, rows=40, **kwargs))


def failed_first_attempt(platform, monkeypatch):
    """Land DAY and run its first request while the lake's features write fails with ENOSPC."""
    path = land(platform)
    first = only_request(tick_at(platform, 0))
    monkeypatch.setenv("RETRAIN_FAILPOINTS", ENOSPC)
    run = launch(platform, first)
    assert not run.success
    return path, first, run


def test_retry_delay_doubles_and_is_capped():
    assert [retry_delay(a, 30) for a in range(4)] == [30, 60, 120, 240]
    assert retry_delay(7, 30) == RETRY_BACKOFF_CAP_SECONDS
    assert retry_delay(50, 30) == RETRY_BACKOFF_CAP_SECONDS


@pytest.mark.faults
def test_failed_ingest_is_retried_after_the_backoff_once_the_fault_is_gone(platform, monkeypatch, capfd):
    spec, lake = platform.spec, platform.lake
    path, first, run = failed_first_attempt(platform, monkeypatch)
    landed = fingerprint(path)
    assert first.tags[LANDING_TAG] == landing_id(spec.name, DAY.isoformat(), landed)
    assert first.tags[ATTEMPT_TAG] == "0"
    assert first.run_key == first.tags[LANDING_TAG]
    assert DAY.isoformat() not in lake.feature_partitions(spec.name)
    failed_at, delay = ended(platform, run), retry_delay(0, sensor_interval())

    # within the backoff: nothing requested, the skip reason says what it waits for
    waiting = skip_message(tick_at(platform, failed_at + delay - 1))
    assert f"{path.name}: run {run.run_id} FAILURE; retry 1 at" in waiting

    monkeypatch.delenv("RETRAIN_FAILPOINTS")  # the disk was freed
    capfd.readouterr()
    retry = only_request(tick_at(platform, failed_at + delay + 1))

    assert retry.partition_key == DAY.isoformat()
    assert retry.run_key == f"{first.run_key}:attempt-1"
    assert retry.tags[LANDING_TAG] == first.tags[LANDING_TAG]
    assert retry.tags[ATTEMPT_TAG] == "1"
    assert retry.tags[PREVIOUS_RUN_TAG] == run.run_id
    logged = capfd.readouterr().err
    assert f"{path}: retrying the ingest of partition {DAY.isoformat()} (attempt 1)" in logged
    assert f"previous run {run.run_id} ended FAILURE" in logged
    assert "No space left on device (injected at fail point lake.write_features)" in logged

    assert launch(platform, retry).success
    assert DAY.isoformat() in lake.feature_partitions(spec.name)
    assert fingerprint(path) == landed  # nobody touched the file
    # done: not requested again, however late
    assert skip_message(tick_at(platform, failed_at + 10 * RETRY_BACKOFF_CAP_SECONDS)) == NOTHING_NEW


@pytest.mark.faults
def test_backoff_grows_with_each_failed_attempt(platform, monkeypatch):
    _, _, run = failed_first_attempt(platform, monkeypatch)
    interval = sensor_interval()
    second = only_request(tick_at(platform, ended(platform, run) + interval))
    again = launch(platform, second)  # the fault is still there
    assert not again.success

    failed_at = ended(platform, again)
    assert requests(tick_at(platform, failed_at + 2 * interval - 1)) == []  # attempt 1 failed: wait 2 intervals
    third = only_request(tick_at(platform, failed_at + 2 * interval))
    assert third.tags[ATTEMPT_TAG] == "2"
    assert third.tags[PREVIOUS_RUN_TAG] == again.run_id


def test_quarantined_landing_is_not_retried(platform):
    path = platform.land(DAY, credit_frame(DAY, rows=40).drop(columns="age"))
    run = launch(platform, only_request(tick_at(platform, 0)))
    assert not run.success  # the blocking schema check refused the data
    assert platform.lake.is_quarantined(platform.spec.name, DAY.isoformat())

    assert skip_message(tick_at(platform, ended(platform, run) + 10 * RETRY_BACKOFF_CAP_SECONDS)) == NOTHING_NEW

    # the corrected re-landing is a new landing, requested at once
    platform.land(DAY, credit_frame(DAY, rows=40))
    fixed = only_request(tick_at(platform, ended(platform, run) + 1))
    assert fixed.tags[ATTEMPT_TAG] == "0" and fixed.tags[LANDING_TAG].endswith(fingerprint(path))


def _recorded_run(platform, request: RunRequest, status: DagsterRunStatus | None = None):
    """A run of the ingest job as the daemon records one before or instead of executing it (queued, canceled)."""
    job = platform.defs.resolve_job_def(ingest_job_name(platform.spec.name))
    run = platform.instance.create_run_for_job(job, tags={**request.tags, "dagster/partition": request.partition_key})
    if status == DagsterRunStatus.CANCELED:
        platform.instance.report_run_canceled(run)
    elif status == DagsterRunStatus.FAILURE:
        platform.instance.report_run_failed(run)
    return platform.instance.get_run_by_id(run.run_id)


def test_run_in_progress_is_waited_for(platform):
    land(platform)
    first = only_request(tick_at(platform, 0))
    _recorded_run(platform, first)  # created, not finished
    assert skip_message(tick_at(platform, 10 * RETRY_BACKOFF_CAP_SECONDS)) == NOTHING_NEW


def test_canceled_run_is_retried(platform):
    land(platform)
    first = only_request(tick_at(platform, 0))
    canceled = _recorded_run(platform, first, DagsterRunStatus.CANCELED)
    assert canceled.status == DagsterRunStatus.CANCELED
    failed_at = platform.instance.get_run_record_by_id(canceled.run_id).end_time

    retry = only_request(tick_at(platform, failed_at + sensor_interval()))

    assert retry.tags[ATTEMPT_TAG] == "1" and retry.tags[PREVIOUS_RUN_TAG] == canceled.run_id
    assert launch(platform, retry).success


def test_a_run_dagster_will_retry_is_left_to_dagster(platform):
    land(platform)
    first = only_request(tick_at(platform, 0))
    failed = _recorded_run(platform, first, DagsterRunStatus.FAILURE)
    platform.instance.add_run_tags(failed.run_id, {WILL_RETRY_TAG: "true"})  # run_retries is on for this run
    later = 10 * RETRY_BACKOFF_CAP_SECONDS + platform.instance.get_run_record_by_id(failed.run_id).end_time
    assert requests(tick_at(platform, later)) == []

    # Dagster's retry copies the run's tags: the newest run with the landing tag decides
    assert launch(platform, first).success
    assert skip_message(tick_at(platform, later)) == NOTHING_NEW


def test_a_retry_dagster_gave_up_on_is_taken_over(platform):
    land(platform)
    first = only_request(tick_at(platform, 0))
    failed = _recorded_run(platform, first, DagsterRunStatus.FAILURE)
    platform.instance.add_run_tags(failed.run_id, {WILL_RETRY_TAG: "false"})  # retries exhausted
    later = 1 + sensor_interval() + platform.instance.get_run_record_by_id(failed.run_id).end_time
    assert only_request(tick_at(platform, later)).tags[ATTEMPT_TAG] == "1"


@pytest.mark.faults
def test_lost_cursor_still_retries_a_failed_landing(platform, monkeypatch):
    _, first, run = failed_first_attempt(platform, monkeypatch)
    monkeypatch.delenv("RETRAIN_FAILPOINTS")
    platform.sensor_cursor = None  # a cursor reset from the UI, or a new deployment

    # the landing is known from its tagged run: neither requested afresh nor forgotten
    assert requests(tick_at(platform, ended(platform, run) + 1)) == []
    retry = only_request(tick_at(platform, ended(platform, run) + sensor_interval()))
    assert retry.tags[ATTEMPT_TAG] == "1" and retry.tags[LANDING_TAG] == first.tags[LANDING_TAG]
    assert launch(platform, retry).success

    platform.sensor_cursor = None
    assert skip_message(tick_at(platform, ended(platform, run) + 1)) == NOTHING_NEW


def test_cursor_of_the_previous_version_is_understood(platform, capfd):
    ingested = land(platform)
    pending = land(platform, DAY + dt.timedelta(days=1))
    rejected = ingested.with_name("not-a-date.csv")
    rejected.write_text("x")
    assert platform.ingest(DAY).success  # what the old sensor's run did, untagged
    # the old entries: bare fingerprints (recorded when requested) and "rejected:" entries, under the model
    old = (
        f'{{"{ingested.name}": "{fingerprint(ingested)}", "{pending.name}": "{fingerprint(pending)}", '
        f'"{rejected.name}": "rejected:{fingerprint(rejected)}"}}'
    )
    platform.sensor_cursor = f'{{"models": {{"{platform.spec.name}": {old}}}}}'
    capfd.readouterr()

    # the ingested file is recognised from raw_batch; the other, whose run never succeeded, is requested again
    assert [r.partition_key for r in requests(tick_at(platform, 0))] == [pending.stem]
    assert str(rejected) not in capfd.readouterr().err  # already reported by the old version
