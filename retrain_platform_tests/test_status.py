"""``retrain status``'s board (``status_board``, ``format_table``) on a real instance, registry and lake."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys

import pytest

from retrain_platform.check_history import latest_results
from retrain_platform.status import COLUMNS, StatusRow, format_table, status_board
from retrain_platform_tests.conftest import STRICT_GATE, Platform, make_spec
from retrain_platform_tests.training.seeded import LAST_SEEDED_DAY, SEEDED_MODEL, seeded_platforms

NEXT = LAST_SEEDED_DAY + dt.timedelta(days=1)
HEADERS = [header for header, _, _ in COLUMNS]


@pytest.fixture
def seeded(tmp_path, tmp_path_factory):
    with seeded_platforms(tmp_path, tmp_path_factory) as make:
        yield make


def table_rows(text: str) -> dict[str, dict[str, str]]:
    """The table as {model: {header: cell}}; cells are separated by two or more spaces."""
    lines = text.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == HEADERS
    rows = {}
    for line in lines[1:]:
        cells = re.split(r"\s{2,}", line)
        if len(cells) == len(HEADERS):
            rows[cells[0]] = dict(zip(HEADERS, cells, strict=True))
    return rows


def drift_share_on(platform: Platform, day: dt.date) -> float:
    [result] = [r for r in latest_results(platform.instance, platform.keys.drift_check, 10) if r.partition == str(day)]
    return result.metadata["drifted_share"]


def failing_on_newest(platform: Platform) -> list[str]:
    """Independently of the board: each check's latest result on its newest partition, through check_history."""
    failing = []
    for check in platform.keys.checks(live=False):
        newest = latest_results(platform.instance, check, 1)
        if newest and not newest[0].passed:
            failing.append(check.name)
    return failing


def test_board_of_two_models_in_different_states(seeded):
    champion_model = seeded()
    # A second model on the same instance, registry and lake: one day landed, nothing trained.
    newcomer = Platform(make_spec(), champion_model.home, champion_model.instance, champion_model.registry)
    [run] = newcomer.land_and_ingest(1, start=NEXT)
    assert run.success

    days = [NEXT, NEXT + dt.timedelta(days=1)]
    champion_model.land_and_ingest(1, start=days[0], shift=1.0)  # drifted
    champion_model.land_and_ingest(1, start=days[1])  # like the training window
    # A backfill: the older day is re-materialized after the newer one; the board must still show the newer day.
    assert champion_model.ingest(days[0]).success
    quarantined_day = NEXT + dt.timedelta(days=2)
    champion_model.land(quarantined_day, raw=b"income,age\nlots,young\n")
    failed = champion_model.ingest(quarantined_day)
    assert not failed.success  # the blocking schema check fails the run

    now = dt.datetime.now(dt.UTC)
    rows = status_board([champion_model.spec, newcomer.spec], champion_model.registry, champion_model.instance, now)
    seeded_row, new_row = rows
    champion = champion_model.registry.champion(SEEDED_MODEL)

    assert seeded_row.model == SEEDED_MODEL and seeded_row.metric == "roc_auc"
    assert seeded_row.champion_version == "1"
    assert seeded_row.holdout_metric == pytest.approx(float(champion.tags["gate.candidate_score"]))
    assert seeded_row.live_metric is None  # the test spec has no feedback section
    promoted = dt.datetime.fromisoformat(champion.tags["champion.promoted_at"])
    assert seeded_row.age_days == pytest.approx((now - promoted).total_seconds() / 86400)
    assert seeded_row.newest_valid_partition == str(days[1])
    assert seeded_row.drift_partition == str(days[1])
    assert seeded_row.drift_share == pytest.approx(drift_share_on(champion_model, days[1]))
    assert drift_share_on(champion_model, days[0]) > seeded_row.drift_share  # the backfilled day, written last
    assert seeded_row.quarantined_days == 1
    assert "schema" in seeded_row.failing_checks
    assert seeded_row.failing_checks == failing_on_newest(champion_model)
    assert (seeded_row.last_decision, seeded_row.last_decision_version) == ("promoted", "1")
    assert seeded_row.last_decision_reason.startswith("first model; roc_auc ")
    # new_rows is unset in the test spec: the rows since the training window (START..START+2) are counted anyway
    assert (seeded_row.volume_rows, seeded_row.volume_rows_needed) == (600, None)
    assert seeded_row.last_failed_run_id == failed.run_id
    assert seeded_row.error is None

    assert new_row.model == newcomer.spec.name
    assert new_row.champion_version is None and new_row.holdout_metric is None and new_row.age_days is None
    assert new_row.drift_share is None and new_row.last_decision is None and new_row.last_failed_run_id is None
    assert new_row.newest_valid_partition == str(NEXT)
    assert new_row.failing_checks == [] and new_row.quarantined_days == 0
    assert (new_row.volume_partitions, new_row.volume_partitions_needed) == (1, 3)
    assert (new_row.volume_rows, new_row.volume_rows_needed) == (300, 200)

    text = format_table(rows, width=200, now=now)
    table = table_rows(text)
    assert table[SEEDED_MODEL] == {
        "model": SEEDED_MODEL,
        "champ": "v1",
        "metric": "roc_auc",
        "holdout": f"{seeded_row.holdout_metric:.4g}",
        "live": "-",
        "age": f"{seeded_row.age_days:.1f}d",
        "valid to": str(days[1]),
        "drift": f"{seeded_row.drift_share:.0%}",
        "decision": "promoted v1",
        "failing": ",".join(seeded_row.failing_checks),
        "quar": "1",
        "volume": "600",
        "failed run": f"{failed.run_id[:8]} now",  # failed seconds ago
    }
    assert table[newcomer.spec.name] == {
        "model": newcomer.spec.name,
        "champ": "none",
        "metric": "roc_auc",
        "holdout": "-",
        "live": "-",
        "age": "-",
        "valid to": str(NEXT),
        "drift": "-",
        "decision": "-",
        "failing": "-",
        "quar": "0",
        "volume": "1/3d 300/200",
        "failed run": "-",
    }

    # JSON: stable keys, plain values, NaN as null
    data = json.loads(json.dumps([row.to_json() for row in rows]))
    assert [set(item) for item in data] == [set(StatusRow.__dataclass_fields__)] * 2
    assert data[0]["drift_share"] == pytest.approx(seeded_row.drift_share)
    assert data[0]["failing_checks"] == seeded_row.failing_checks
    assert data[0]["last_failed_run_id"] == failed.run_id
    assert data[1]["champion_version"] is None and data[1]["volume_partitions"] == 1


def test_a_registry_that_fails_for_one_model_leaves_its_row_with_the_error(seeded, monkeypatch):
    platform = seeded()
    other = make_spec()
    monkeypatch.setenv("RETRAIN_FAILPOINTS", "registry.read_champion=error:1")
    broken, fine = status_board([platform.spec, other], platform.registry, platform.instance)
    assert broken.champion_version is None and "failed to read the champion alias" in broken.error
    assert broken.newest_valid_partition == str(LAST_SEEDED_DAY)  # the Dagster facts are still there
    assert fine.error is None and fine.champion_version is None
    text = format_table([broken, fine])
    assert table_rows(text)[SEEDED_MODEL]["champ"] == "error"
    assert text.splitlines()[-1] == f"{SEEDED_MODEL}: {broken.error}"


def test_the_latest_rejection_is_the_last_decision(seeded):
    platform = seeded(gate=STRICT_GATE)
    assert platform.retrain().success  # identical data: v2 is rejected (an observation, after the promotion)
    [row] = status_board([platform.spec], platform.registry, platform.instance)
    assert (row.champion_version, row.last_decision, row.last_decision_version) == ("1", "rejected", "2")


def test_the_table_fits_the_width_by_cutting_free_text():
    row = StatusRow(
        "credit_risk2",
        "roc_auc",
        champion_version="12",
        last_decision="probation",
        last_decision_version="13",
        failing_checks=["drift", "performance_floor", "champion_age", "training_volume"],
        volume_rows=123456,
        volume_rows_needed=200000,
    )
    lines = format_table([row], width=120).splitlines()
    assert max(map(len, lines)) <= 120
    failing = table_rows("\n".join(lines))["credit_risk2"]["failing"]
    assert failing.startswith("drift,") and failing.endswith("…")
    assert len(format_table([row], width=400).splitlines()[1]) > 120  # nothing cut when there is room


def test_status_imports_neither_scikit_learn_nor_scipy_stats(tmp_path):
    """Most of the old command's time was imports it never used; this keeps them out."""
    code = (
        "import sys\n"
        "from retrain_platform.cli import main\n"
        "assert main(['status', '--json']) == 0\n"
        "heavy = [m for m in ('sklearn', 'scipy.stats', 'evidently') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "MLFLOW_TRACKING_URI", "RETRAIN_SPECS")}
    env["RETRAIN_HOME"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
