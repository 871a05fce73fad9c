"""The lake on an object store: the whole loop against a real S3 API, served by moto's server on 127.0.0.1.

The server is a separate process speaking S3 over HTTP (``moto_server``), and the platform reaches it the way it
would reach AWS or MinIO: s3fs, through universal-pathlib, with the endpoint and credentials from the ``AWS_*``
environment. Nothing is mocked inside the process under test.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3fs
import yaml

from retrain_platform.failpoints import ENV as FAILPOINTS_ENV
from retrain_platform.pipeline import ingest_job_name
from retrain_platform.registry.reference import _CACHE as reference_cache
from retrain_platform.resources import build_resources
from retrain_platform.settings import LAKE_ENV
from retrain_platform.storage.lake import RAW_SHA256_KEY, Lake, atomic_write, file_sha256, lake_path
from retrain_platform_tests.conftest import START, credit_frame, make_spec, spec_dict
from retrain_platform_tests.faults.lab import REPO_ROOT, WORKER_TIMEOUT_SECONDS

pytestmark = pytest.mark.s3

SERVER_START_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _moto_server() -> str:
    # Beside the interpreter first: the suite's virtual environment installs it (moto[server], a dev dependency).
    beside = Path(sys.executable).parent / "moto_server"
    found = str(beside) if beside.exists() else shutil.which("moto_server")
    assert found, "moto_server is not installed: `make install` installs the dev dependencies (moto[server])"
    return found


@pytest.fixture(scope="module")
def s3_endpoint():
    """A local S3-compatible server for this module, and the ``AWS_*`` environment pointing at it."""
    port = _free_port()
    server = subprocess.Popen(
        [_moto_server(), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + SERVER_START_SECONDS
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert server.poll() is None, f"moto_server exited with {server.returncode}"
            assert time.monotonic() < deadline, f"moto_server did not listen on 127.0.0.1:{port}"
            time.sleep(0.1)
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield endpoint
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def bucket(s3_endpoint) -> str:
    """A fresh, empty bucket."""
    name = f"lake-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(skip_instance_cache=True).mkdir(name)
    return name


def objects(bucket: str) -> set[str]:
    """Every object key in ``bucket``, read afresh."""
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    return {key.removeprefix(f"{bucket}/") for key in fs.find(bucket)}


def paths_in(metadata: dict) -> list[str]:
    """The values of path metadata entries."""
    return [v.value for v in metadata.values() if type(v).__name__ == "PathMetadataValue"]


@pytest.mark.slow
def test_the_loop_runs_on_an_object_store(platform_factory, bucket):
    spec = make_spec(drift={"share_threshold": 0.4, "report": {"when": "always", "sample_rows": 200}})
    platform = platform_factory(spec, lake_root=f"s3://{bucket}/prod")
    days = [START + dt.timedelta(days=i) for i in range(4)]
    for day in days:
        platform.land(day, credit_frame(day))

    requests = platform.tick().run_requests
    assert sorted(r.partition_key for r in requests) == [d.isoformat() for d in days]
    for day in days:
        assert platform.ingest(day).success
    assert platform.retrain().success
    champion = platform.registry.champion(spec.name)
    assert champion is not None and champion.version == "1"

    # another pod (a fresh scratch folder, nothing cached in the process) finds the reference in the MLflow run
    shutil.rmtree(platform.home / "cache")
    reference_cache.clear()

    # a day after the promotion is checked for drift against the champion's reference; its report is in S3
    after = START + dt.timedelta(days=4)
    platform.land(after, credit_frame(after, shift=1.0))
    assert platform.ingest(after).success

    stored = objects(bucket)
    model = f"prod/lake/{spec.name}"
    for day in [*days, after]:
        assert f"prod/landing/{spec.name}/{day.isoformat()}.csv" in stored  # the landing is kept
        assert f"{model}/raw/{day.isoformat()}.csv" in stored
        assert f"{model}/features/{day.isoformat()}.parquet" in stored
    assert f"{model}/candidates/1/holdout.parquet" in stored
    assert f"prod/reports/{spec.name}/drift/{after.isoformat()}.html" in stored
    assert not any("/." in key or ".tmp" in key for key in stored), "no temporary object is left behind"

    # the reference sketch is a local cache (the MLflow run holds it); nothing else of the lake is on local disk
    assert platform.lake.reference_dir(spec.name, "1").is_dir()
    assert not (platform.home / "lake").exists() and not (platform.home / "landing").exists()

    # what the lake serves is what was written, read back through the same API
    assert platform.lake.report_partitions(spec.name) == [after.isoformat()]
    with platform.lake.open_report(spec.name, after.isoformat()) as handle:
        assert b"<html" in handle.read(4096).lower()
    assert platform.lake.feature_partitions(spec.name) == [d.isoformat() for d in [*days, after]]
    assert platform.lake.feature_rows(spec.name, [after.isoformat()]) == len(credit_frame(after))

    # recorded paths are relative to the lake root, so the state does not pin the lake to one place
    for key in (platform.keys.raw_batch, platform.keys.features):
        for record in platform.instance.fetch_materializations(key, limit=20).records:
            recorded = paths_in(record.asset_materialization.metadata)
            assert recorded and all(not p.startswith(("/", "s3://")) for p in recorded), recorded
            assert all(platform.lake.root_path.joinpath(p).exists() for p in recorded), recorded


def test_a_relanded_day_is_ingested_again_and_the_old_copy_is_kept(platform_factory, bucket):
    platform = platform_factory(lake_root=f"s3://{bucket}/lake-root")
    spec, day = platform.spec, START
    platform.land(day, credit_frame(day, rows=120))
    (first,) = platform.tick().run_requests
    assert platform.ingest(day).success
    old_sha = platform.lake.features_raw_sha256(spec.name, day.isoformat())

    # the same name landed again with other rows, within the same second: the object's ETag tells it apart
    platform.land(day, credit_frame(day, rows=150, seed=7))
    (second,) = platform.tick().run_requests
    assert second.tags != first.tags
    assert platform.ingest(day).success

    new_sha = platform.lake.features_raw_sha256(spec.name, day.isoformat())
    assert new_sha != old_sha
    kept = f"lake-root/lake/{spec.name}/raw/superseded/{day.isoformat()}.{old_sha[:12]}.csv"
    assert kept in objects(bucket), "the earlier landing is kept, not overwritten"
    assert platform.lake.feature_rows(spec.name, [day.isoformat()]) == 150


def test_a_failed_write_publishes_nothing(bucket):
    target = lake_path(f"s3://{bucket}/atomic/features.parquet")
    table = pd.DataFrame({"x": range(1000)})
    atomic_write(target, lambda handle: table.to_parquet(handle))
    before = target.read_bytes()

    def half_then_fail(handle):
        handle.write(b"PAR1 half a file")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == before, "readers still see the previous object whole"
    with pytest.raises(OSError):
        atomic_write(lake_path(f"s3://{bucket}/atomic/new.parquet"), half_then_fail)
    assert objects(bucket) == {"atomic/features.parquet"}


@pytest.mark.faults
def test_a_failure_while_storing_features_loses_nothing_and_the_next_run_recovers(
    platform_factory, bucket, monkeypatch
):
    platform = platform_factory(lake_root=f"s3://{bucket}/root")
    spec, day = platform.spec, START
    platform.land(day, credit_frame(day))
    monkeypatch.setenv(FAILPOINTS_ENV, "lake.write_features=enospc")
    assert not platform.ingest(day).success
    stored = objects(bucket)
    assert f"root/lake/{spec.name}/raw/{day.isoformat()}.csv" in stored
    assert not any("/features/" in key for key in stored)

    monkeypatch.delenv(FAILPOINTS_ENV)
    assert platform.ingest(day).success
    features = platform.lake.features_path(spec.name, day.isoformat())
    with features.open("rb") as handle:
        recorded = pq.read_schema(handle).metadata[RAW_SHA256_KEY].decode()
    assert recorded == platform.lake.features_raw_sha256(spec.name, day.isoformat())


def test_a_prefix_named_like_a_partition_is_refused_with_a_fix(platform_factory, bucket):
    platform = platform_factory(lake_root=f"s3://{bucket}/r")
    folder = platform.lake.landing_dir(platform.spec)
    (folder / "2026-03-02.csv" / "part-0.csv").write_bytes(credit_frame(START).to_csv(index=False).encode())
    message = platform.tick().skip_message
    assert f"{folder}/2026-03-02.csv: is a directory, not a regular file" in message
    assert "land each day as one file named YYYY-MM-DD.csv" in message
    assert platform.instance.get_runs() == []


def test_retrain_lake_puts_the_lake_on_the_object_store(tmp_path, bucket, monkeypatch):
    monkeypatch.setenv(LAKE_ENV, f"s3://{bucket}/from-env")
    lake = build_resources(tmp_path, resolve_env=True)["lake"]
    assert isinstance(lake, Lake) and lake.remote and lake.root == f"s3://{bucket}/from-env"
    assert not lake.reference_dir("m", "3").is_relative_to(tmp_path / "lake"), "sketches are cached under scratch"
    assert lake.reference_dir("m", "3").is_relative_to(tmp_path / "cache")
    spec = make_spec()
    path = lake.land(spec, "2026-03-01", credit_frame(START, rows=10))
    assert pd.read_csv(io.BytesIO(path.read_bytes())).shape == (10, 6)
    assert f"from-env/{spec.landing.path}/2026-03-01.csv" in objects(bucket)


@pytest.mark.faults
@pytest.mark.slow
def test_a_worker_killed_while_ingesting_a_relanding_leaves_no_stale_features(tmp_path, bucket):
    """kill -9 of the run's process after the new raw copy is stored and before its features are: the lake holds
    the new raw copy, the old one kept aside, and no features (never the old features beside new raw data)."""
    name, day = f"s3kill_{uuid.uuid4().hex[:8]}", START.isoformat()
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / f"{name}.yaml").write_text(yaml.safe_dump(spec_dict(name)))
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "RETRAIN_SPECS": str(tmp_path / "specs"),
        "RETRAIN_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        LAKE_ENV: f"s3://{bucket}/killed",
    }
    env.pop(FAILPOINTS_ENV, None)
    lake = Lake(root=env[LAKE_ENV], scratch=str(tmp_path / "cache"))
    spec = make_spec(name)

    def worker(failpoints: str | None = None) -> int:
        request = {"job": ingest_job_name(name), "partition": day}
        armed = {**env, FAILPOINTS_ENV: failpoints} if failpoints else env
        command = [sys.executable, "-m", "retrain_platform_tests.faults.worker", json.dumps(request)]
        return subprocess.run(command, env=armed, cwd=tmp_path, timeout=WORKER_TIMEOUT_SECONDS).returncode

    lake.land(spec, day, credit_frame(START, rows=100))
    assert worker() == 0
    old_sha = lake.features_raw_sha256(name, day)
    landed = lake.land(spec, day, credit_frame(START, rows=130, seed=3))

    assert worker("lake.write_features=kill") == -9
    assert file_sha256(lake.raw_path(spec, day)) == file_sha256(landed), "the new landing is in the lake"
    assert f"killed/lake/{name}/raw/superseded/{day}.{old_sha[:12]}.csv" in objects(bucket)
    assert lake.feature_partitions(name) == [], "no features of the old landing beside the new raw copy"
    assert landed.exists(), "the landing is kept"

    assert worker() == 0
    assert lake.features_raw_sha256(name, day) == file_sha256(landed)
    assert lake.feature_rows(name, [day]) == 130


def test_the_demo_never_deletes_a_remote_lake_it_did_not_create(tmp_path, bucket, monkeypatch):
    from retrain_platform.cli import DEMO_MARKER, _prepare_demo_home

    monkeypatch.setenv(LAKE_ENV, f"s3://{bucket}/shared")
    foreign = lake_path(f"s3://{bucket}/shared/lake/fraud/raw/2026-03-01.csv")
    foreign.write_bytes(b"a,b\n1,2\n")
    problem = _prepare_demo_home(tmp_path / "home", reset=True)
    assert problem and "already holds platform data the demo did not create (lake)" in problem
    assert "shared/lake/fraud/raw/2026-03-01.csv" in objects(bucket)

    monkeypatch.setenv(LAKE_ENV, f"s3://{bucket}/demo")
    assert _prepare_demo_home(tmp_path / "home", reset=False) is None
    assert f"demo/{DEMO_MARKER}" in objects(bucket)
    lake_path(f"s3://{bucket}/demo/landing/churn/2026-03-01.parquet").write_bytes(b"PAR1")
    assert "--reset" in _prepare_demo_home(tmp_path / "home", reset=False)
    assert _prepare_demo_home(tmp_path / "home", reset=True) is None
    assert {k for k in objects(bucket) if k.startswith("demo/")} == {f"demo/{DEMO_MARKER}"}


def test_the_prediction_log_and_label_files_live_in_the_bucket(bucket):
    spec = make_spec(feedback={"path": "feedback/credit", "min_labels": 10, "label_delay_days": 2})
    lake = Lake(root=f"s3://{bucket}/live")
    day = START.isoformat()
    for part in ("b", "a"):
        lake.write_predictions(spec.name, day, pa.table({"request_id": [part], "prediction": [1.0]}), part)
    # a part still being written elsewhere (a dot-name) is not read, like on disk
    lake_path(f"s3://{bucket}/live/lake/{spec.name}/predictions/{day}/.part-c.parquet").write_bytes(b"PAR1")
    assert lake.prediction_days(spec.name) == [day]
    assert lake.prediction_parts(spec.name, day) == 2
    assert sorted(lake.read_predictions(spec.name, day)["request_id"]) == ["a", "b"]

    labels = lake.feedback_dir(spec) / f"{day}.parquet"
    labels.write_bytes(pd.DataFrame({"request_id": ["a"], "defaulted": [1]}).to_parquet())
    assert lake.label_files(spec) == {day: labels}
    assert lake.read_labels(spec, labels)["defaulted"].tolist() == [1]
