"""How the replay turns one automation evaluation into runs: one run per partition, as the daemon launches them."""

from __future__ import annotations

from retrain_platform.keys import ModelKeys
from retrain_platform.orchestration.replay import monitoring_runs


class _Evaluation:
    """Stands in for an evaluation result: only the requested partitions per asset are read."""

    def __init__(self, requested):
        self.requested = requested

    def get_requested_partitions(self, key):
        return self.requested.get(key, set())


def test_monitoring_assets_requested_for_one_day_share_a_run_and_days_run_oldest_first():
    keys = ModelKeys("churn")
    evaluation = _Evaluation(
        {keys.drift_report: {"2026-03-02", "2026-03-01"}, keys.champion_performance: {"2026-03-02"}}
    )
    assert monitoring_runs(evaluation, keys) == {
        "2026-03-01": [keys.drift_report],
        "2026-03-02": [keys.drift_report, keys.champion_performance],
    }
    assert monitoring_runs(_Evaluation({}), keys) == {}
