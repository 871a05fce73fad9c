"""The live demo, end to end: real uvicorn on loopback, real HTTP traffic, labels, the live trigger, the alerts."""

from __future__ import annotations

import pytest
from dagster import DagsterInstance

from retrain_platform.demo.live import WEBHOOK_ENV, run_live_demo

pytestmark = pytest.mark.slow


def test_the_live_demo_retrains_on_a_live_decline_and_swaps_with_no_failed_request(tmp_path, monkeypatch):
    monkeypatch.setenv(WEBHOOK_ENV, "")  # the demo points it at its own receiver; restored afterwards
    home = tmp_path / "home"
    (tmp_path / "dagster").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dagster")) as instance:
        result = run_live_demo(home, instance, days=10, new_days=7, echo=lambda *_: None)

    assert result.failed_requests == 0 and result.requests > 100
    assert result.champion_after != result.champion_before
    assert set(result.answered_by) == {result.champion_before, result.champion_after}
    assert result.live_check.startswith("FAILED") and "below the floor 0.7" in result.live_check
    assert result.retrain_trigger == "live"
    before, after = (result.live_auc_by_version[v] for v in (result.champion_before, result.champion_after))
    assert after > before  # the new champion learned the new world
    assert any("check live_performance failed" in a for a in result.alerts)
    assert any(a.endswith(f"retrain (live): candidate v{result.champion_after} trained") for a in result.alerts)
    assert any(f"v{result.champion_after} promoted to champion" in a for a in result.alerts)
