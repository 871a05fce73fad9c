"""Two writers at once: gates of the same model, and a rollback racing a promotion.

Worker processes are lined up at exact points with ``wait`` fail points, so each race happens every time rather
than once in a thousand runs. The promotion lock and the registry's compare-and-set must make the outcome what a
serial order would give: every candidate compared with the champion it replaces, a champion history that never
points at itself, and no move undone unseen.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from retrain_platform.operations import rollback
from retrain_platform_tests.faults.lab import FaultLab
from retrain_platform_tests.integration.regimes import drifted_frame

pytestmark = [pytest.mark.slow, pytest.mark.faults]


def wait_until_reached(barrier: Path, worker, timeout: float = 180.0) -> None:
    """Block until ``worker`` has reached the ``wait:`` fail point at ``barrier``."""
    deadline = time.monotonic() + timeout
    reached = barrier.with_name(barrier.name + ".reached")
    while not reached.exists():
        assert worker.poll() is None, f"the worker exited ({worker.returncode}) before reaching {barrier.name}"
        assert time.monotonic() < deadline, f"the worker never reached {barrier.name}"
        time.sleep(0.1)


def release(barrier: Path) -> None:
    """Let the worker waiting at ``barrier`` go on."""
    barrier.with_name(barrier.name + ".go").touch()


def gate_records(lab: FaultLab) -> list[dict]:
    """Metadata of every production_model materialization, oldest first."""
    records = lab.instance.fetch_materializations(lab.keys.production_model, limit=100, ascending=True).records
    return [{k: v.value for k, v in r.asset_materialization.metadata.items()} for r in records]


def test_two_gates_of_one_candidate_promote_it_once(tmp_path, monkeypatch, record_property):
    record_property("fault", "two gates at once")
    lab, _ = FaultLab.prepared(monkeypatch)
    assert lab.run_worker({**lab.retrain_request(), "assets": [lab.keys.candidate_model.to_user_string()]}) == 0
    barrier = tmp_path / "gate-a"

    first = lab.start_worker(lab.gate_request(), failpoints=f"gate.decided=wait:{barrier}")
    wait_until_reached(barrier, first)
    assert lab.run_worker(lab.gate_request()) == 0
    release(barrier)
    assert first.wait(timeout=240) == 0

    lab.assert_consistent()
    champion = lab.registry.champion(lab.spec.name)
    assert champion.version == "2" and champion.tags["champion.previous"] == "1"
    assert [r["decision"] for r in gate_records(lab)] == ["promoted", "promoted"]  # v1, then v2 once


def test_two_full_retrains_compare_each_candidate_with_the_champion_it_replaces(tmp_path, monkeypatch, record_property):
    record_property("fault", "two retrains at once")
    lab, _ = FaultLab.prepared(monkeypatch)
    barrier = tmp_path / "retrain-a"

    first = lab.start_worker(lab.retrain_request(), failpoints=f"gate.decided=wait:{barrier}")
    wait_until_reached(barrier, first)  # it decided v2 against v1
    assert lab.run_worker(lab.retrain_request()) == 0  # v3, gated against v1, promoted
    release(barrier)
    assert first.wait(timeout=240) == 0

    lab.assert_consistent()
    champion = lab.registry.champion(lab.spec.name)
    assert champion.version == "3" and champion.tags["champion.previous"] == "1"
    v2 = lab.registry.version(lab.spec.name, "2")
    # The newer candidate, decided first, superseded v2: v2 never replaced v3 (nor v1) unseen.
    assert v2.tags["gate.superseded_by"] == "3" and "gate.promote" not in v2.tags


def test_rollback_during_a_promotion_is_not_undone_unseen(tmp_path, monkeypatch, record_property):
    record_property("fault", "rollback racing a promotion")
    lab, drifted = FaultLab.prepared(monkeypatch)
    assert lab.run_worker(lab.retrain_request()) == 0
    assert lab.champion_version() == "2"
    day = drifted[-1] + dt.timedelta(days=1)
    lab.day(day, drifted_frame(day))
    barrier = tmp_path / "gate-v3"

    promotion = lab.start_worker(lab.retrain_request(), failpoints=f"gate.decided=wait:{barrier}")
    wait_until_reached(barrier, promotion)  # v3 decided against v2, nothing written yet
    assert rollback(lab.spec, lab.registry, lab.lake, lab.instance, reason="race test", who="ops") == "1"
    release(barrier)
    assert promotion.wait(timeout=240) == 0

    lab.assert_consistent()
    v1 = lab.registry.version(lab.spec.name, "1")
    assert v1.tags["rollback.from"] == "2" and v1.tags["rollback.by"] == "ops"
    decisions = gate_records(lab)
    after_rollback = decisions[[d["decision"] for d in decisions].index("rollback") + 1 :]
    champion = lab.registry.champion(lab.spec.name)
    v3 = lab.registry.version(lab.spec.name, "3")
    if champion.version == "3":
        # Re-gated against the rolled-back champion: the record says whom it replaced.
        assert champion.tags["champion.previous"] == "1"
        assert [(d["decision"], d["champion_version"]) for d in after_rollback] == [("promoted", "1")]
    else:
        # Rejected: the rollback stands, untouched.
        assert champion.version == "1" and v3.tags["gate.promote"] == "False" and not after_rollback
