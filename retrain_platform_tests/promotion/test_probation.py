"""Probation: a candidate the holdout refused waits as a challenger and is judged on the days that land after it.

On a real instance and MLflow registry, from the seeded state (v1 trained on three unshifted days). The gate is
the strict one (mode ``better``), so a tie on the holdout is a refusal whose probation can be observed.
"""

from __future__ import annotations

import datetime as dt

import pytest

from retrain_platform.promotion.probation import PROBATION_REASON_TAG, PROBATION_TAG
from retrain_platform.registry import DECIDED_AT_TAG
from retrain_platform_tests.automation.helpers import NOTHING, requested, true_labels
from retrain_platform_tests.conftest import STRICT_GATE, credit_frame
from retrain_platform_tests.promotion.test_assets import materializations, observations
from retrain_platform_tests.training.seeded import LAST_SEEDED_DAY, SEEDED_MODEL, seeded_platforms

SHIFT = 1.5


@pytest.fixture
def seeded(tmp_path, tmp_path_factory):
    with seeded_platforms(tmp_path, tmp_path_factory) as make:
        yield make


def next_day(i: int) -> dt.date:
    return LAST_SEEDED_DAY + dt.timedelta(days=i)


def land(platform, i: int, shift: float = 0.0) -> None:
    day = next_day(i)
    platform.land(day, credit_frame(day, shift=shift))
    assert platform.ingest(day).success


def gate(platform) -> None:
    assert platform.retrain(asset_selection=[platform.keys.production_model]).success


def on_probation_after_one_shifted_day(seeded, days: int = 2):
    """A candidate whose holdout (the one shifted day) cannot tell its validation fit from the champion: both
    learned only unshifted days. Its registered refit has seen the shifted day, the champion has not."""
    platform = seeded(
        training={"window_days": 2, "min_partitions": 1, "min_rows": 200, "holdout_fraction": 0.5},
        gate={**STRICT_GATE, "probation_days": days},
    )
    land(platform, 1, SHIFT)
    assert platform.retrain().success
    return platform


def test_a_refused_candidate_waits_on_probation_with_the_champion_untouched(seeded):
    platform = on_probation_after_one_shifted_day(seeded)

    assert platform.registry.champion(SEEDED_MODEL).version == "1"
    [started] = observations(platform)
    assert started["decision"] == "probation"
    assert (started["candidate_version"], started["champion_version"]) == ("2", "1")
    assert started["probation_days"] == 2
    assert "not significant" in started["reason"] or "below the required margin" in started["reason"]
    assert started["reason"].endswith("on the next 2 day(s) that land after its window, then decided for good")
    tags = platform.registry.version(SEEDED_MODEL, "2").tags
    assert tags[PROBATION_TAG] == next_day(1).isoformat()
    assert tags[PROBATION_REASON_TAG] == started["reason"].split("; on probation")[0]
    assert DECIDED_AT_TAG not in tags  # not decided: the next gate run judges it again

    # One day after its window: still waiting, and saying how far it is.
    land(platform, 2, SHIFT)
    gate(platform)
    waiting = observations(platform)[0]
    assert waiting["decision"] == "probation"
    assert waiting["probation_days_landed"] == 1
    assert "1 of 2 day(s) after its window have landed" in waiting["reason"]
    assert platform.registry.champion(SEEDED_MODEL).version == "1"
    assert DECIDED_AT_TAG not in platform.registry.version(SEEDED_MODEL, "2").tags


def test_a_challenger_better_on_the_days_after_its_window_is_promoted(seeded):
    platform = on_probation_after_one_shifted_day(seeded)
    land(platform, 2, SHIFT)
    land(platform, 3, SHIFT)
    gate(platform)

    champion = platform.registry.champion(SEEDED_MODEL)
    assert champion.version == "2"
    promoted = materializations(platform)[0]
    assert promoted["decision"] == "promoted"
    span = f"{next_day(2).isoformat()} to {next_day(3).isoformat()}"
    assert promoted["reason"].startswith(f"after probation on the 2 day(s) landed after its window ({span})")
    assert promoted["holdout_rows"] == 600  # the two probation days, not the candidate's holdout
    assert promoted["ci_low"] > 0  # the refit learned the shifted day the champion never saw
    assert champion.tags["champion.previous"] == "1"
    assert champion.tags[DECIDED_AT_TAG]
    assert platform.lake.reference_dir(SEEDED_MODEL, "2").is_dir()


def test_a_challenger_no_better_after_probation_is_refused_for_good(seeded):
    platform = seeded(
        training={"window_days": 2, "min_partitions": 1, "min_rows": 200, "holdout_fraction": 0.5},
        gate={**STRICT_GATE, "probation_days": 1},
    )
    land(platform, 1)  # the same regime: nothing to learn that the champion lacks
    assert platform.retrain().success
    assert observations(platform)[0]["decision"] == "probation"
    land(platform, 2)
    gate(platform)

    assert platform.registry.champion(SEEDED_MODEL).version == "1"
    rejected = observations(platform)[0]
    assert rejected["decision"] == "rejected"
    assert rejected["reason"].startswith(f"after probation on the 1 day(s) landed after its window ({next_day(2)})")
    tags = platform.registry.version(SEEDED_MODEL, "2").tags
    assert tags[DECIDED_AT_TAG] and tags["gate.promote"] == "False"
    # decided for good: a later gate run changes nothing
    count = len(observations(platform))
    land(platform, 3)
    gate(platform)
    assert len(observations(platform)) == count
    assert platform.registry.version(SEEDED_MODEL, "2").tags == tags


def test_automation_asks_the_gate_again_only_when_a_day_lands_for_a_challenger(seeded):
    platform = on_probation_after_one_shifted_day(seeded)
    platform.evaluate(next_day(1))  # the evaluation that would have launched the retrain: consumed

    assert requested(platform, platform.evaluate(next_day(1))) == NOTHING  # no new day, no gate run
    land(platform, 2, SHIFT)
    evaluation = platform.evaluate(next_day(2))
    wanted = requested(platform, evaluation)
    assert wanted["production_model"] == 1 and wanted["candidate_model"] == 0
    assert "a day landed for the challenger" in true_labels(evaluation, platform.keys.production_model)

    # Once decided, a landed day no longer asks for the gate.
    land(platform, 3, SHIFT)
    gate(platform)
    assert platform.registry.champion(SEEDED_MODEL).version == "2"
    land(platform, 4, SHIFT)
    assert requested(platform, platform.evaluate(next_day(4)))["production_model"] == 0


def test_without_probation_a_refusal_is_final_at_once(seeded):
    platform = seeded(
        training={"window_days": 2, "min_partitions": 1, "min_rows": 200, "holdout_fraction": 0.5}, gate=STRICT_GATE
    )
    land(platform, 1, SHIFT)
    assert platform.retrain().success
    [rejected] = observations(platform)
    assert rejected["decision"] == "rejected"
    assert PROBATION_TAG not in platform.registry.version(SEEDED_MODEL, "2").tags
