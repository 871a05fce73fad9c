"""The landing sensor: one run per new or changed daily file; everything else is ignored or reported once.

``platform.tick()`` evaluates the real sensor (as the daemon would) and returns its result without executing it.
"""

from __future__ import annotations

import datetime as dt
import json
import os

from dagster import RunRequest, SensorResult, SkipReason, build_sensor_context, partition_loading_context

from retrain_platform.definitions import build_definitions
from retrain_platform.failpoints import ENV as FAILPOINTS_ENV
from retrain_platform.ingest.sensor import LANDING_SENSOR_NAME, SCAN_ERROR_METADATA, landing_interval, sensor_interval
from retrain_platform.keys import ModelKeys
from retrain_platform.pipeline import ingest_job_name
from retrain_platform.registry import ModelRegistry
from retrain_platform.storage.lake import Lake
from retrain_platform_tests.conftest import START, credit_frame, make_spec

NOTHING_NEW = "no new or changed files"


def land(platform, day: dt.date, rows: int = 5, seed: int = 0):
    return platform.land(day, credit_frame(day, rows=rows, seed=seed))


def fingerprint(path) -> str:
    stat = path.stat()
    return f"{stat.st_mtime_ns}-{stat.st_size}"


def requests(result) -> list[RunRequest]:
    if isinstance(result, SkipReason):
        return []
    assert isinstance(result, SensorResult)
    return list(result.run_requests)


def requested(result) -> dict[str, str]:
    """partition key -> run key of every run the tick requested."""
    runs = requests(result)
    by_partition = {r.partition_key: r.run_key for r in runs}
    assert len(by_partition) == len(runs), "one request per partition"
    return by_partition


def skip_message(result) -> str:
    assert isinstance(result, SkipReason), result
    return result.skip_message


def test_one_request_per_new_file_then_nothing(platform):
    days = [START, START + dt.timedelta(days=1), START + dt.timedelta(days=5)]
    files = {d.isoformat(): land(platform, d) for d in days}

    first = platform.tick()

    runs = requests(first)
    assert sorted(r.partition_key for r in runs) == sorted(files)
    for run in runs:
        path = files[run.partition_key]
        assert fingerprint(path) in run.run_key
        assert run.partition_key in run.run_key
        # relative to the lake root, so the run history does not pin the lake to one folder
        assert run.tags["retrain/landed_file"] == f"{platform.spec.landing.path}/{path.name}"
    assert len({r.run_key for r in runs}) == len(runs)

    assert skip_message(platform.tick()) == NOTHING_NEW
    assert skip_message(platform.tick()) == NOTHING_NEW


def test_new_day_only_requests_that_day(platform):
    land(platform, START)
    platform.tick()
    later = START + dt.timedelta(days=2)
    land(platform, later)
    assert list(requested(platform.tick())) == [later.isoformat()]


def test_rewritten_or_touched_file_is_requested_again(platform):
    day, other = START, START + dt.timedelta(days=1)
    path = land(platform, day)
    land(platform, other)
    before = requested(platform.tick())[day.isoformat()]

    # a corrected file (different content and size)
    land(platform, day, rows=7, seed=1)
    after = requested(platform.tick())
    assert list(after) == [day.isoformat()]  # the untouched day is not requested again
    assert after[day.isoformat()] != before
    assert fingerprint(path) in after[day.isoformat()]

    # the same bytes, only a new modification time (e.g. copied again)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    touched = requested(platform.tick())
    assert list(touched) == [day.isoformat()]
    assert touched[day.isoformat()] not in (before, after[day.isoformat()])
    assert fingerprint(path) in touched[day.isoformat()]

    assert skip_message(platform.tick()) == NOTHING_NEW


def test_partial_writes_and_other_files_are_ignored_silently(platform, capfd):
    # (names meant as landings but wrong, a .CSV or a .parquet for a csv model, are reported: test_bad_landing)
    folder = platform.lake.landing_dir(platform.spec)
    folder.mkdir(parents=True)
    (folder / f".{START.isoformat()}.csv").write_text("income\n1\n")  # a write in progress
    (folder / f".{START.isoformat()}.csv.swp").write_text("x")
    (folder / f".{START.isoformat()}.csv").with_name(".partial").mkdir()  # a hidden folder
    (folder / f"{START.isoformat()}.csv.tmp").write_text("x")
    (folder / "README.txt").write_text("x")

    assert skip_message(platform.tick()) == NOTHING_NEW
    assert str(folder) not in capfd.readouterr().err

    # once the write completes (rename), the file is picked up
    os.rename(folder / f".{START.isoformat()}.csv", folder / f"{START.isoformat()}.csv")
    assert list(requested(platform.tick())) == [START.isoformat()]


def test_no_landing_folder_yet(platform):
    assert not platform.lake.landing_dir(platform.spec).exists()
    assert skip_message(platform.tick()) == NOTHING_NEW


def test_files_that_cannot_be_partitions_are_reported_once_with_what_to_do(platform, capfd):
    folder = platform.lake.landing_dir(platform.spec)
    folder.mkdir(parents=True)
    now = dt.datetime.now(dt.UTC)  # pinned below, so the test cannot straddle midnight
    today = now.date()
    not_a_date = folder / "not-a-date.csv"
    too_early = folder / f"{(START - dt.timedelta(days=1)).isoformat()}.csv"
    today_file = folder / f"{today.isoformat()}.csv"
    future = folder / f"{(today + dt.timedelta(days=400)).isoformat()}.csv"
    for path in (not_a_date, too_early, today_file, future):
        path.write_text("income\n1\n")
    capfd.readouterr()

    with partition_loading_context(effective_dt=now):
        message = skip_message(platform.tick())
    logged = capfd.readouterr().err

    for text in (message, logged):
        assert f"{not_a_date}: file name is not a date" in text
        assert "name daily files YYYY-MM-DD.csv" in text
        for path in (too_early, today_file, future):
            assert f"{path}: {path.stem} is outside the partitions of model {platform.spec.name!r}" in text
        assert "Rename the file to the day its rows belong to, or move partitions.start_date" in text
        assert "a day becomes a partition once it has ended" in text

    # reported once per fingerprint: not again while the files are unchanged, and never deleted
    with partition_loading_context(effective_dt=now):
        assert skip_message(platform.tick()) == NOTHING_NEW
    assert str(folder) not in capfd.readouterr().err
    assert all(p.exists() for p in (not_a_date, too_early, today_file, future))

    # a changed rejected file is reported again (only it)
    not_a_date.write_text("income\n1\n2\n")
    with partition_loading_context(effective_dt=now):
        message = skip_message(platform.tick())
    assert str(not_a_date) in message and str(too_early) not in message


def test_rejections_do_not_hide_good_files(platform, capfd):
    folder = platform.lake.landing_dir(platform.spec)
    land(platform, START)
    (folder / "not-a-date.csv").write_text("x")
    capfd.readouterr()

    result = platform.tick()

    assert list(requested(result)) == [START.isoformat()]
    assert f"{folder / 'not-a-date.csv'}: file name is not a date" in capfd.readouterr().err
    assert skip_message(platform.tick()) == NOTHING_NEW


def test_compact_date_name_is_reported_as_a_bad_name(platform):
    folder = platform.lake.landing_dir(platform.spec)
    folder.mkdir(parents=True)
    compact = folder / f"{START:%Y%m%d}.csv"
    compact.write_text("x")
    message = skip_message(platform.tick())
    assert str(compact) in message
    assert "name daily files YYYY-MM-DD.csv" in message


def test_rejected_file_is_requested_once_start_date_is_moved(platform_factory):
    spec = make_spec()
    before = platform_factory(spec)
    early = START - dt.timedelta(days=3)
    land(before, early)
    assert "move partitions.start_date" in skip_message(before.tick())

    # the user moves start_date; the daemon keeps the sensor's cursor across the code reload
    moved = platform_factory(make_spec(spec.name, partitions={"start_date": early.isoformat()}))
    moved.sensor_cursor = before.sensor_cursor
    assert list(requested(moved.tick())) == [early.isoformat()]


def test_todays_file_is_requested_once_the_day_has_ended(platform):
    today = dt.datetime.now(dt.UTC).date()
    land(platform, today)
    assert "a day becomes a partition once it has ended" in skip_message(platform.tick())
    cursor = platform.sensor_cursor

    tomorrow = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(1), tzinfo=dt.UTC)
    with partition_loading_context(effective_dt=tomorrow):
        platform.sensor_cursor = None
        assert list(requested(platform.tick())) == [today.isoformat()]  # a fresh sensor would request it
        platform.sensor_cursor = cursor
        assert list(requested(platform.tick())) == [today.isoformat()]


def test_lost_cursor_does_not_reingest_what_raw_batch_holds(platform):
    ingested, pending = START, START + dt.timedelta(days=1)
    path = land(platform, ingested)
    land(platform, pending)
    assert platform.ingest(ingested, asset_selection=[platform.keys.raw_batch]).success

    platform.sensor_cursor = None  # a new deployment, or a cursor reset from the UI
    assert list(requested(platform.tick())) == [pending.isoformat()]

    # the ingested file changes while the cursor is lost again: the new landing is requested
    platform.sensor_cursor = None
    land(platform, ingested, rows=9, seed=2)
    again = requested(platform.tick())
    assert sorted(again) == [ingested.isoformat(), pending.isoformat()]
    assert fingerprint(path) in again[ingested.isoformat()]


def test_one_sensor_serves_every_model_and_one_unreadable_folder_holds_no_other_back(
    tmp_path, instance, mlflow_uri, monkeypatch
):
    broken, healthy = make_spec(), make_spec()
    lake = Lake(root=str(tmp_path / "home"))
    registry = ModelRegistry(tracking_uri=mlflow_uri, artifact_root=(tmp_path / "artifacts").as_uri())
    defs = build_definitions([broken, healthy], resources={"lake": lake, "registry": registry})
    sensor = defs.resolve_sensor_def(LANDING_SENSOR_NAME)
    for spec in (broken, healthy):
        lake.land(spec, START.isoformat(), credit_frame(START, rows=20))
    cursor = None

    def tick():
        nonlocal cursor
        context = build_sensor_context(instance=instance, cursor=cursor, resources={"lake": lake})
        result = sensor(context)
        cursor = getattr(result, "cursor", None) or context.cursor
        return result

    monkeypatch.setenv(FAILPOINTS_ENV, f"landing.scan.{broken.name}=error")
    first = tick()
    [request] = first.run_requests
    assert request.job_name == ingest_job_name(healthy.name) and request.partition_key == START.isoformat()
    [observation] = first.asset_events
    assert observation.asset_key == ModelKeys(broken.name).raw_batch
    problem = observation.metadata[SCAN_ERROR_METADATA].value
    assert str(lake.landing_dir(broken)) in problem and "InjectedFault" in problem and "could not be read" in problem

    # still broken: reported in the skip reason, but recorded on the asset only once
    second = tick()
    assert isinstance(second, SkipReason) and problem in second.skip_message

    # the folder reads again: its landing is requested, nothing of the other model is requested twice
    monkeypatch.delenv(FAILPOINTS_ENV)
    [late] = tick().run_requests
    assert late.job_name == ingest_job_name(broken.name)
    assert set(json.loads(cursor)["models"]) == {broken.name, healthy.name}
    assert json.loads(cursor)["errors"] == {}


def test_the_landing_interval_is_short_by_default_and_never_longer_than_the_sensor_interval(monkeypatch):
    monkeypatch.delenv("RETRAIN_SENSOR_INTERVAL_SECONDS", raising=False)
    monkeypatch.delenv("RETRAIN_LANDING_INTERVAL_SECONDS", raising=False)
    assert (landing_interval(), sensor_interval()) == (5, 30)
    monkeypatch.setenv("RETRAIN_LANDING_INTERVAL_SECONDS", "20")
    assert landing_interval() == 20
    monkeypatch.setenv("RETRAIN_SENSOR_INTERVAL_SECONDS", "1")
    assert landing_interval() == 1
