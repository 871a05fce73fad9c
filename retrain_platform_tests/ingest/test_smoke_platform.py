"""A first end-to-end check of the fixtures: three good days, a first model, promotion."""

import datetime as dt

from retrain_platform_tests.conftest import START


def test_three_days_then_first_model_promoted(platform):
    runs = platform.land_and_ingest(3)
    assert all(r.success for r in runs)
    retrain = platform.retrain()
    assert retrain.success
    champion = platform.registry.champion(platform.spec.name)
    assert champion is not None and champion.version == "1"
    # the champion now monitors the next day
    day = START + dt.timedelta(days=3)
    platform.land_and_ingest(1, start=day)
    events = platform.instance.get_latest_materialization_event(platform.keys.champion_performance)
    assert events.asset_materialization.metadata["champion_version"].value == "1"
