"""``production_model``: the gate run as an asset on a real instance and MLflow registry.

A promotion moves the ``champion`` alias, materializes ``production_model`` and saves the champion's reference
sketch; a rejection is an observation and leaves the alias alone; either way the version is tagged.
"""

from __future__ import annotations

import datetime as dt

import pytest

from retrain_platform.registry.reference import REFERENCE_ARTIFACT
from retrain_platform_tests.conftest import START, STRICT_GATE, make_spec
from retrain_platform_tests.training.seeded import LAST_SEEDED_DAY, SEEDED_MODEL, seeded_platforms


@pytest.fixture
def seeded(tmp_path, tmp_path_factory):
    with seeded_platforms(tmp_path, tmp_path_factory) as make:
        yield make


def materializations(platform) -> list[dict]:
    """Metadata of every production_model materialization, newest first (plus its data version)."""
    records = platform.instance.fetch_materializations(platform.keys.production_model, limit=20).records
    return [
        {k: v.value for k, v in r.asset_materialization.metadata.items()}
        | {"_data_version": r.asset_materialization.tags.get("dagster/data_version")}
        for r in records
    ]


def observations(platform) -> list[dict]:
    """Metadata of every production_model observation (rejections), newest first."""
    records = platform.instance.fetch_observations(platform.keys.production_model, limit=20).records
    return [{k: v.value for k, v in r.asset_observation.metadata.items()} for r in records]


def reference_logged(platform, version: str) -> bool:
    run_id = platform.registry.version(platform.spec.name, version).run_id
    return any(a.path == REFERENCE_ARTIFACT for a in platform.registry.client.list_artifacts(run_id))


def test_first_model_above_min_score_is_promoted(seeded):
    platform = seeded()
    champion = platform.registry.champion(SEEDED_MODEL)
    assert champion.version == "1"
    tags = champion.tags
    assert tags["gate.promote"] == "True"
    assert tags["gate.reason"].startswith("first model; roc_auc ")
    assert tags["gate.reason"].endswith("clears min_score 0.55")
    assert tags["champion.previous"] == ""
    assert tags["champion.reason"] == tags["gate.reason"]
    dt.datetime.fromisoformat(tags["champion.promoted_at"])

    [promoted] = materializations(platform)
    assert promoted["decision"] == "promoted"
    assert promoted["candidate_version"] == "1"
    assert promoted["champion_version"] == "none"
    assert promoted["reason"] == tags["gate.reason"]
    assert promoted["_data_version"] == "v1"
    # the gate scored the candidate on the same holdout training did
    holdout_metric = platform.registry.client.get_run(champion.run_id).data.metrics["holdout_roc_auc"]
    assert promoted["candidate_score"] == pytest.approx(holdout_metric)
    assert float(tags["gate.candidate_score"]) == pytest.approx(holdout_metric)
    assert observations(platform) == []

    reference = platform.lake.reference_dir(SEEDED_MODEL, "1")
    assert reference.is_dir() and any(reference.iterdir())
    assert reference_logged(platform, "1")


def test_first_model_below_min_score_is_rejected(platform_factory):
    spec = make_spec(
        training={"window_days": 10, "min_partitions": 1, "min_rows": 200, "holdout_fraction": 0.3},
        gate={"min_improvement": 0.0, "confidence": 0.9, "bootstrap_samples": 200, "min_score": 0.99},
    )
    platform = platform_factory(spec)
    platform.land_and_ingest(1)
    assert platform.retrain().success  # a rejection is a decision, not a failure

    assert platform.registry.champion(spec.name) is None
    assert materializations(platform) == []
    [rejected] = observations(platform)
    assert rejected["decision"] == "rejected"
    assert rejected["candidate_version"] == "1"
    assert rejected["champion_version"] == "none"
    assert rejected["reason"].startswith("first model; roc_auc ")
    assert rejected["reason"].endswith("does not clear min_score 0.99")
    tags = platform.registry.version(spec.name, "1").tags
    assert tags["gate.promote"] == "False"
    assert "champion.promoted_at" not in tags
    assert not platform.lake.reference_dir(spec.name, "1").exists()


def test_a_clearly_better_challenger_is_promoted(seeded):
    # the champion learned the old regime; three days of the new one fill the challenger's 3-day window
    platform = seeded(training={"window_days": 3, "min_partitions": 3, "min_rows": 200, "holdout_fraction": 0.3})
    platform.land_and_ingest(3, start=LAST_SEEDED_DAY + dt.timedelta(days=1), shift=1.0)
    assert platform.retrain().success

    champion = platform.registry.champion(SEEDED_MODEL)
    assert champion.version == "2"
    latest, first = materializations(platform)
    assert first["candidate_version"] == "1"
    assert latest["decision"] == "promoted"
    assert (latest["candidate_version"], latest["champion_version"]) == ("2", "1")
    assert latest["candidate_score"] > latest["champion_score"]
    assert latest["gain"] == pytest.approx(latest["candidate_score"] - latest["champion_score"])
    assert 0 < latest["ci_low"] <= latest["gain"] <= latest["ci_high"]
    assert latest["confidence"] == 0.9
    assert latest["holdout_rows"] == 270
    assert latest["reason"].startswith(f"gain {latest['gain']:+.4f} in roc_auc, 90% CI")
    assert latest["_data_version"] == "v2"

    tags = champion.tags
    assert tags["gate.promote"] == "True"
    assert float(tags["gate.ci_low"]) == pytest.approx(latest["ci_low"])
    assert tags["champion.previous"] == "1"
    assert tags["champion.reason"] == latest["reason"]
    assert tags["training.window_start"] == (START + dt.timedelta(days=3)).isoformat()

    assert platform.lake.reference_dir(SEEDED_MODEL, "2").is_dir()
    assert reference_logged(platform, "2")


def test_a_candidate_no_better_than_the_champion_is_rejected(seeded):
    # same regime one day later: the champion is scored only on the new day, which it never saw
    platform = seeded(
        training={"window_days": 4, "min_partitions": 1, "min_rows": 200, "holdout_fraction": 0.5}, gate=STRICT_GATE
    )
    platform.land_and_ingest(1, start=LAST_SEEDED_DAY + dt.timedelta(days=1))
    assert platform.retrain().success

    assert platform.registry.champion(SEEDED_MODEL).version == "1"
    assert len(materializations(platform)) == 1  # only the first model's promotion
    [rejected] = observations(platform)
    assert rejected["decision"] == "rejected"
    assert (rejected["candidate_version"], rejected["champion_version"]) == ("2", "1")
    assert rejected["holdout_rows"] == 300  # the newest day only; the rest of the holdout is in v1's window
    assert rejected["reason"].endswith(f"(on the 300 holdout rows after {LAST_SEEDED_DAY}, which v1 never saw)")
    assert rejected["gain"] < 0.02
    tags = platform.registry.version(SEEDED_MODEL, "2").tags
    assert tags["gate.promote"] == "False"
    assert tags["gate.reason"] == rejected["reason"]
    assert not any(key.startswith("champion.") for key in tags)
    assert not platform.lake.reference_dir(SEEDED_MODEL, "2").exists()

    # running the gate again for the same, already decided candidate changes nothing
    assert platform.retrain(asset_selection=[platform.keys.production_model]).success
    assert len(observations(platform)) == 1
    assert len(materializations(platform)) == 1
    assert platform.registry.version(SEEDED_MODEL, "2").tags == tags


def test_a_holdout_the_champion_was_trained_on_is_compared_whole_and_says_so(seeded):
    # same window, same data: every holdout partition is in the (refit) champion's training data; the gate
    # compares on all of it (in sample for the champion, so the champion is favoured) and says so
    platform = seeded(gate=STRICT_GATE)
    assert platform.retrain().success
    assert platform.registry.champion(SEEDED_MODEL).version == "1"
    [rejected] = observations(platform)
    assert rejected["decision"] == "rejected"
    assert rejected["holdout_rows"] == 270
    assert rejected["champion_score"] >= rejected["candidate_score"]
    assert rejected["reason"].endswith(f"(every holdout partition is in v1's training data, through {LAST_SEEDED_DAY})")


def test_without_refit_the_registered_model_is_the_one_the_gate_scored(seeded):
    platform = seeded(training={"refit_on_full_window": False})
    assert platform.retrain(asset_selection=[platform.keys.candidate_model]).success
    info = platform.registry.version(SEEDED_MODEL, "2")
    holdout, predictions = platform.lake.read_holdout(SEEDED_MODEL, "2")
    model = platform.registry.load(info)
    features = holdout[list(platform.spec.features)].astype({"has_mortgage": bool})
    assert model.predict_proba(features)[:, 1] == pytest.approx(predictions)
    assert platform.registry.client.get_run(info.run_id).data.metrics["train_rows"] == 720


def test_rerunning_the_gate_after_a_promotion_does_nothing(seeded):
    platform = seeded()
    before = platform.registry.version(SEEDED_MODEL, "1").tags
    assert platform.retrain(asset_selection=[platform.keys.production_model]).success
    assert len(materializations(platform)) == 1
    assert observations(platform) == []
    assert platform.registry.version(SEEDED_MODEL, "1").tags == before
    assert platform.registry.champion(SEEDED_MODEL).version == "1"
