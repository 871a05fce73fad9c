"""Real file-system faults under the lake: a full disk and a read-only mount, then recovery with nobody involved.

The lake folder is a small tmpfs mounted for the test (we run as root; elsewhere the tests skip and say why). The
ingest run fails with the kernel's own error, the landed file is left untouched, and once the fault is gone the
sensor's next tick after the backoff requests the run again and the partition is ingested.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import subprocess
from pathlib import Path

import pytest

from retrain_platform.ingest.sensor import ATTEMPT_TAG, retry_delay, sensor_interval
from retrain_platform.storage.lake import file_sha256
from retrain_platform_tests.conftest import START, credit_frame
from retrain_platform_tests.ingest.driving import ended, launch, only_request, skip_message, tick_at

pytestmark = [pytest.mark.faults, pytest.mark.slow]

DAY = START + dt.timedelta(days=1)
SIZE = "2m"


def _mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


def mounted_tmpfs(folder: Path):
    """Mount a fresh tmpfs of ``SIZE`` on ``folder`` for the duration of a test (skips where mounting is denied)."""
    folder.mkdir(parents=True)
    mounted = _mount("-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(folder))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root outside an unprivileged container): {mounted.stderr.strip()}")
    yield folder
    unmounted = subprocess.run(["umount", str(folder)], capture_output=True, text=True, check=False)
    if unmounted.returncode != 0:
        # Busy: something still holds a file open on it (a leaked descriptor is itself a finding). Detach it anyway
        # so no mount outlives the test, then fail.
        subprocess.run(["umount", "-l", str(folder)], check=True)
        pytest.fail(f"{folder} was still in use at the end of the test: {unmounted.stderr.strip()}")


@pytest.fixture
def lake_mount(platform) -> Path:
    """The platform's whole lake folder (``<home>/lake``) on its own small file system."""
    yield from mounted_tmpfs(platform.lake.root_path / "lake")


@pytest.fixture
def features_mount(platform) -> Path:
    """Only the model's features folder on its own small file system (raw copies go to the ordinary disk)."""
    yield from mounted_tmpfs(platform.lake.model_dir(platform.spec.name) / "features")


def fill(folder: Path) -> Path:
    """Write a file until the file system is full; returns it (delete it to free the space)."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as handle:
        for chunk in (64 << 10, 4 << 10, 1):  # ever smaller, so not even a page is left
            try:
                while True:
                    handle.write(b"\0" * chunk)
            except OSError as err:
                assert err.errno == errno.ENOSPC
    return filler


def landed_state(path: Path):
    info = path.stat()
    return path.read_bytes(), info.st_mtime_ns, info.st_ino


def failing_ingest(platform, expected: str):
    """Land DAY, run the sensor's request, and check it failed in raw_batch with ``expected`` and touched nothing."""
    landed = platform.land(DAY, credit_frame(DAY, rows=200))
    before = landed_state(landed)
    first = only_request(tick_at(platform, 0))
    run = launch(platform, first)

    assert not run.success
    (failure,) = run.get_step_failure_events()
    assert failure.step_key == f"{platform.spec.name}__raw_batch"
    assert expected in failure.step_failure_data.error.cause.message
    assert landed_state(landed) == before
    assert not platform.lake.raw_path(platform.spec, DAY.isoformat()).exists()
    return landed, before, run


def recovers(platform, landed: Path, before, run) -> None:
    """After the fault is gone: retried after the backoff, ingested, and the landing still untouched."""
    failed_at = ended(platform, run)
    assert "retry 1 at" in skip_message(tick_at(platform, failed_at + 1))
    retry = only_request(tick_at(platform, failed_at + retry_delay(0, sensor_interval())))
    assert retry.tags[ATTEMPT_TAG] == "1"
    assert launch(platform, retry).success

    spec, partition = platform.spec, DAY.isoformat()
    assert platform.lake.raw_path(spec, partition).read_bytes() == before[0]
    assert partition in platform.lake.feature_partitions(spec.name)
    assert landed_state(landed) == before
    leftovers = list(platform.lake.model_dir(spec.name).rglob(".*"))
    assert leftovers == []  # no temporary file survived the failed attempt


def test_full_disk_fails_the_ingest_then_recovers_once_space_is_freed(platform, lake_mount):
    filler = fill(lake_mount)
    landed, before, run = failing_ingest(platform, "No space left on device")
    filler.unlink()
    recovers(platform, landed, before, run)


def test_read_only_lake_fails_the_ingest_then_recovers_once_writable(platform, lake_mount):
    assert _mount("-o", "remount,ro", str(lake_mount)).returncode == 0
    try:
        landed, before, run = failing_ingest(platform, "Read-only file system")
    finally:
        assert _mount("-o", "remount,rw", str(lake_mount)).returncode == 0
    recovers(platform, landed, before, run)


def test_full_features_disk_after_a_relanding_leaves_no_stale_features(platform, features_mount):
    spec, lake, partition = platform.spec, platform.lake, DAY.isoformat()
    platform.land(DAY, credit_frame(DAY, rows=200))
    assert launch(platform, only_request(tick_at(platform, 0))).success
    filler = fill(features_mount)

    # larger than the first landing: removing the old features must not free enough room for the new ones
    relanded = platform.land(DAY, credit_frame(DAY, rows=5000, seed=1))
    before = landed_state(relanded)
    run = launch(platform, only_request(tick_at(platform, 0)))

    assert not run.success
    (failure,) = run.get_step_failure_events()
    assert failure.step_key == f"{spec.name}__features"
    assert "No space left on device" in failure.step_failure_data.error.cause.message
    assert lake.raw_path(spec, partition).read_bytes() == before[0]  # the new landing is in the lake ...
    assert partition not in lake.feature_partitions(spec.name)  # ... and no features of the old one remain
    assert lake.features_raw_sha256(spec.name, partition) is None

    filler.unlink()
    retry = only_request(tick_at(platform, ended(platform, run) + retry_delay(0, sensor_interval())))
    assert launch(platform, retry).success
    assert lake.features_raw_sha256(spec.name, partition) == file_sha256(relanded)
    assert landed_state(relanded) == before


def open_files_under(folder: Path) -> list[str]:
    """Files this process holds open below ``folder`` (deleted ones included)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # a descriptor closed while listing
            if (target := os.readlink(f"/proc/self/fd/{fd}")).startswith(str(folder)):
                held.append(target)
    return held


def test_failed_features_write_on_a_full_disk_keeps_no_file_open(platform, features_mount):
    fill(features_mount)
    with pytest.raises(OSError) as failed:  # the exception (and its traceback) stays referenced, as in a step
        platform.lake.write_features(platform.spec.name, DAY.isoformat(), credit_frame(DAY, rows=5000), raw_sha256="0")
    assert failed.value.errno == errno.ENOSPC
    # an open descriptor on the deleted temporary file would keep its space allocated after the "fix"
    assert open_files_under(features_mount) == []
    assert list(features_mount.iterdir()) == [features_mount / "filler"]
