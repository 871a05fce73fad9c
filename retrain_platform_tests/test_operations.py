"""Day-two operations: ``model_status`` and ``rollback``, on a real instance, registry and lake."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from retrain_platform.operations import model_status, rollback
from retrain_platform_tests.conftest import STRICT_GATE
from retrain_platform_tests.training.seeded import LAST_SEEDED_DAY, SEEDED_MODEL, seeded_platforms

NEXT = LAST_SEEDED_DAY + dt.timedelta(days=1)


@pytest.fixture
def seeded(tmp_path, tmp_path_factory):
    with seeded_platforms(tmp_path, tmp_path_factory) as make:
        yield make


def status(platform):
    return model_status(platform.spec, platform.registry, platform.instance)


def roll_back(platform, **kwargs) -> str:
    return rollback(platform.spec, platform.registry, platform.lake, platform.instance, **kwargs)


def production_materializations(platform) -> list:
    return platform.instance.fetch_materializations(platform.keys.production_model, limit=20).records


# --------------------------------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------------------------------


def test_status_before_any_champion(platform):
    current = status(platform)
    assert current.champion_version is None
    assert current.champion_metric is None and current.age_days is None and current.training_window is None
    assert current.last_decision is None
    assert current.format() == f"{platform.spec.name}: no champion yet"


def test_status_reports_champion_metric_age_window_drift_and_decision(seeded):
    platform = seeded()
    [run] = platform.land_and_ingest(1, start=NEXT, shift=1.0)
    drift = platform.instance.get_latest_materialization_event(platform.keys.drift_report)
    drift_share = drift.asset_materialization.metadata["drifted_share"].value

    current = status(platform)
    champion = platform.registry.champion(SEEDED_MODEL)
    holdout = platform.registry.client.get_run(champion.run_id).data.metrics["holdout_roc_auc"]
    assert current.model == SEEDED_MODEL
    assert current.champion_version == "1"
    assert current.metric == "roc_auc"
    assert current.champion_metric == pytest.approx(holdout)
    assert 0 <= current.age_days < 1  # promoted minutes ago (wall-clock)
    assert current.training_window == "2026-03-01 .. 2026-03-03"
    assert current.last_drift_share == pytest.approx(drift_share)
    assert current.last_decision.startswith("promoted v1: first model; roc_auc ")

    text = current.format()
    assert text.splitlines()[0] == f"{SEEDED_MODEL}: champion v1"
    assert f"holdout roc_auc: {holdout:.4f}" in text
    assert "training window: 2026-03-01 .. 2026-03-03" in text
    assert f"last drift share: {drift_share:.0%}" in text


def test_status_shows_the_latest_rejection(seeded):
    platform = seeded(gate=STRICT_GATE)
    assert platform.retrain().success  # identical data: v2 is rejected
    current = status(platform)
    assert current.champion_version == "1"
    assert current.last_decision.startswith("rejected v2: ")


# --------------------------------------------------------------------------------------------------
# rollback
# --------------------------------------------------------------------------------------------------


def test_rollback_refuses_without_a_champion(platform):
    with pytest.raises(ValueError, match=f"^{platform.spec.name} has no champion; there is nothing to roll back$"):
        roll_back(platform)


def test_rollback_refusals_leave_the_champion_alone(seeded):
    platform = seeded()
    with pytest.raises(ValueError, match=rf"^{SEEDED_MODEL} v1 has no previous champion; pass --to VERSION$"):
        roll_back(platform)
    with pytest.raises(ValueError, match=rf"^{SEEDED_MODEL} has no version 7; registered versions: \['1'\]$"):
        roll_back(platform, to_version="7")
    with pytest.raises(ValueError, match=rf"^{SEEDED_MODEL} v1 is already the champion$"):
        roll_back(platform, to_version="1")
    assert platform.registry.champion(SEEDED_MODEL).version == "1"
    assert len(production_materializations(platform)) == 1


def test_rollback_to_a_version_and_back_is_recorded_and_monitoring_keeps_working(seeded):
    platform = seeded(gate=STRICT_GATE)
    assert platform.retrain().success  # v2: same data, rejected by the gate, never champion
    assert platform.registry.champion(SEEDED_MODEL).version == "1"
    assert not platform.lake.reference_dir(SEEDED_MODEL, "2").exists()

    # --to: any registered version
    assert roll_back(platform, to_version="2", reason="canary of v2", who="alice") == "2"
    champion = platform.registry.champion(SEEDED_MODEL)
    assert champion.version == "2"
    assert champion.tags["rollback.by"] == "alice"
    assert champion.tags["rollback.from"] == "1"
    assert champion.tags["champion.previous"] == "1"
    assert champion.tags["champion.reason"] == "rollback: canary of v2"
    assert dt.datetime.fromisoformat(champion.tags["rollback.at"]) == dt.datetime.fromisoformat(
        champion.tags["champion.promoted_at"]
    )

    latest = production_materializations(platform)[0].asset_materialization
    meta = {k: v.value for k, v in latest.metadata.items()}
    assert meta == {
        "decision": "rollback",
        "reason": "canary of v2",
        "by": "alice",
        "from_version": "1",
        "candidate_version": "2",
        "champion_version": "2",
    }
    assert latest.description == "rollback from v1 to v2 by alice: canary of v2"
    assert latest.tags["dagster/data_version"] == "v2"
    assert status(platform).last_decision == "rollback v2: canary of v2"

    # the restored version got a reference sketch, so drift checks run against it
    assert platform.lake.reference_dir(SEEDED_MODEL, "2").is_dir()
    [run] = platform.land_and_ingest(1, start=NEXT, shift=1.0)
    assert run.success
    drift = platform.instance.get_latest_materialization_event(platform.keys.drift_report).asset_materialization
    assert drift.metadata["champion_version"].value == "2"
    assert drift.metadata["dataset_drift"].value is True

    # default target: the previous champion; its reference sketch is rebuilt if the lake lost it
    shutil.rmtree(platform.lake.reference_dir(SEEDED_MODEL, "1"))
    assert roll_back(platform, who="bob") == "1"
    champion = platform.registry.champion(SEEDED_MODEL)
    assert champion.version == "1"
    assert champion.tags["rollback.by"] == "bob"
    assert champion.tags["rollback.from"] == "2"
    assert champion.tags["champion.reason"] == "rollback: manual rollback"
    assert platform.lake.reference_dir(SEEDED_MODEL, "1").is_dir()
    assert len(production_materializations(platform)) == 3  # first promotion, two rollbacks

    [run] = platform.land_and_ingest(1, start=NEXT + dt.timedelta(days=1))
    assert run.success
    drift = platform.instance.get_latest_materialization_event(platform.keys.drift_report).asset_materialization
    assert drift.metadata["champion_version"].value == "1"
