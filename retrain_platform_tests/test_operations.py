"""Day-two operations: ``rollback``, on a real instance, registry and lake (the status board: test_status.py)."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from retrain_platform.operations import rollback
from retrain_platform.status import status_board
from retrain_platform_tests.conftest import STRICT_GATE
from retrain_platform_tests.training.seeded import LAST_SEEDED_DAY, SEEDED_MODEL, seeded_platforms

NEXT = LAST_SEEDED_DAY + dt.timedelta(days=1)


@pytest.fixture
def seeded(tmp_path, tmp_path_factory):
    with seeded_platforms(tmp_path, tmp_path_factory) as make:
        yield make


def last_decision(platform) -> tuple[str, str, str]:
    [row] = status_board([platform.spec], platform.registry, platform.instance)
    return row.last_decision, row.last_decision_version, row.last_decision_reason


def roll_back(platform, **kwargs) -> str:
    return rollback(platform.spec, platform.registry, platform.lake, platform.instance, **kwargs)


def production_materializations(platform) -> list:
    return platform.instance.fetch_materializations(platform.keys.production_model, limit=20).records


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
    assert last_decision(platform) == ("rollback", "2", "canary of v2")

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
