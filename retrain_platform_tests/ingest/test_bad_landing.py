"""Entries in a landing folder that cannot be a landing, end to end through the real sensor on a real instance.

Each is reported once per fingerprint, in the tick log and the skip reason, with the file, what is wrong and what
to do; it is never followed, copied, moved or deleted, no run is requested for it and nothing downstream runs.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import SkipReason

from retrain_platform_tests.conftest import START, credit_frame, make_spec

NOTHING_NEW = "no new or changed files"


@dataclass(frozen=True)
class Case:
    id: str
    make: object  # (platform, folder) -> the entry it put in the landing folder
    says: tuple[str, ...]  # fragments of the report, after "<path>: "
    not_says: tuple[str, ...] = ()


def _csv(day: dt.date) -> bytes:
    return credit_frame(day, rows=20).to_csv(index=False).encode()


def _link(folder: Path, name: str, target: str | Path) -> Path:
    (folder / name).symlink_to(target)
    return folder / name


def _other_models_lake(platform, folder: Path) -> Path:
    other = platform.lake.raw_path(make_spec(), START.isoformat())
    other.parent.mkdir(parents=True)
    other.write_bytes(_csv(START))
    return _link(folder, f"{START.isoformat()}.csv", other)


def _written(folder: Path, name: str, content: bytes) -> Path:
    (folder / name).write_bytes(content)
    return folder / name


LINK_ADVICE = "links in a landing folder are never followed. Land the file itself"

CASES = [
    Case(
        "link_to_etc_passwd",
        lambda p, f: _link(f, f"{START.isoformat()}.csv", "/etc/passwd"),
        ("is a symbolic link (to /etc/passwd)", LINK_ADVICE, "then rename it to 2026-03-01.csv"),
    ),
    Case("link_to_another_models_lake", _other_models_lake, ("is a symbolic link (to ", LINK_ADVICE)),
    Case(
        "dangling_link",
        lambda p, f: _link(f, f"{START.isoformat()}.csv", f / "gone" / "nowhere.csv"),
        ("is a symbolic link (to ", "nowhere.csv)", LINK_ADVICE),
    ),
    Case(
        "upper_case_suffix",
        lambda p, f: _written(f, "2026-03-02.CSV", _csv(START)),
        ("the suffix .CSV must be lower case; rename to 2026-03-02.csv",),
    ),
    Case(
        "directory_named_like_a_partition",
        lambda p, f: (f / "2026-03-03.csv").mkdir() or f / "2026-03-03.csv",
        ("is a directory, not a regular file", "land each day as one file named YYYY-MM-DD.csv", "Move the directory"),
    ),
    Case(
        "named_pipe",
        lambda p, f: os.mkfifo(f / "2026-03-04.csv") or f / "2026-03-04.csv",
        ("is a named pipe, not a regular file", "Move the named pipe"),
    ),
    Case(
        "unpadded_date",
        lambda p, f: _written(f, "2026-3-9.csv", _csv(START)),
        ("file name is not a date in YYYY-MM-DD form", "name daily files YYYY-MM-DD.csv", "rename to 2026-03-09.csv"),
        ("outside the partitions",),
    ),
    Case(
        "impossible_date",
        lambda p, f: _written(f, "2026-02-30.csv", _csv(START)),
        ("file name is not a date in YYYY-MM-DD form",),
        ("rename to",),
    ),
    Case(
        "wrong_format_suffix",
        lambda p, f: _written(f, "2026-03-05.parquet", b"PAR1"),
        (
            "lands csv files (landing.format in its spec), not parquet",
            "convert the file to csv and land it as 2026-03-05.csv",
            "or land it for a model whose landing.format is parquet",
        ),
    ),
]


def skip_message(result) -> str:
    assert isinstance(result, SkipReason), f"expected nothing requested, got {result}"
    return result.skip_message


def snapshot(entry: Path):
    """What must not change: the entry itself (not what a link points to)."""
    info = entry.lstat()
    content = os.readlink(entry) if entry.is_symlink() else entry.read_bytes() if entry.is_file() else None
    return info.st_mode, info.st_mtime_ns, info.st_size, content


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_landing_is_reported_once_and_left_alone(platform, capfd, case):
    folder = platform.lake.landing_dir(platform.spec)
    folder.mkdir(parents=True)
    entry = case.make(platform, folder)
    before = snapshot(entry)
    capfd.readouterr()

    message = skip_message(platform.tick())
    logged = capfd.readouterr().err

    for text in (message, logged):
        assert f"{entry}: " in text
        for fragment in case.says:
            assert fragment in text, (fragment, text)
        for fragment in case.not_says:
            assert fragment not in text, (fragment, text)

    # reported once per fingerprint, kept as it was, and nothing ran or entered this model's lake
    assert skip_message(platform.tick()) == NOTHING_NEW
    assert str(entry) not in capfd.readouterr().err
    assert snapshot(entry) == before
    assert platform.instance.get_runs() == []
    assert not platform.lake.model_dir(platform.spec.name).exists()
    assert not platform.instance.get_materialized_partitions(platform.keys.raw_batch)


def test_changed_bad_landing_is_reported_again(platform):
    folder = platform.lake.landing_dir(platform.spec)
    folder.mkdir(parents=True)
    link = _link(folder, f"{START.isoformat()}.csv", "/etc/passwd")
    assert "is a symbolic link (to /etc/passwd)" in skip_message(platform.tick())
    link.unlink()
    _link(folder, link.name, "/etc/hostname-or-anything-else")
    assert "is a symbolic link (to /etc/hostname-or-anything-else)" in skip_message(platform.tick())


def test_link_replaced_by_the_real_file_is_requested(platform):
    folder = platform.lake.landing_dir(platform.spec)
    folder.mkdir(parents=True)
    link = _link(folder, f"{START.isoformat()}.csv", "/etc/passwd")
    assert "symbolic link" in skip_message(platform.tick())
    link.unlink()
    platform.land(START, credit_frame(START, rows=20))
    (request,) = platform.tick().run_requests
    assert request.partition_key == START.isoformat()


@pytest.mark.parametrize("target", ["/etc/passwd", "dangling"])
def test_raw_batch_run_by_hand_refuses_a_link(platform, target):
    """Materializing a partition from the UI bypasses the sensor: raw_batch itself refuses the link."""
    folder = platform.lake.landing_dir(platform.spec)
    folder.mkdir(parents=True)
    link = _link(folder, f"{START.isoformat()}.csv", folder / "gone.csv" if target == "dangling" else target)

    run = platform.ingest(START)

    assert not run.success
    (failure,) = run.get_step_failure_events()
    assert failure.step_key == f"{platform.spec.name}__raw_batch"
    description = failure.step_failure_data.user_failure_data.description
    assert f"{link} is a symbolic link; the lake never copies through a link" in description
    assert not platform.lake.raw_path(platform.spec, START.isoformat()).exists()
    assert not platform.instance.get_materialized_partitions(platform.keys.features)
    assert link.is_symlink()
