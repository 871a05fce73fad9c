"""The wall-clock age trigger: production_model's freshness policy failing requests a retrain.

Dagster's FreshnessDaemon evaluates policies and records a ``FreshnessStateChange`` event; reporting that same
event here exercises exactly the wiring from policy to retrain, without waiting days of wall-clock time.
"""

import datetime as dt
import time

from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

from retrain_platform_tests.conftest import START, make_spec, spec_dict


def _report(platform, new: FreshnessState, previous: FreshnessState) -> None:
    platform.instance.report_runless_asset_event(
        FreshnessStateChange(
            key=platform.keys.production_model,
            new_state=new,
            previous_state=previous,
            state_change_timestamp=time.time(),
        )
    )


def test_production_model_has_freshness_policy_from_max_model_age(platform_factory):
    spec = make_spec(triggers={**spec_dict("x")["triggers"], "max_model_age_days": 3})
    platform = platform_factory(spec)
    node = platform.defs.resolve_asset_graph().get(platform.keys.production_model)
    assert node.freshness_policy is not None
    assert node.freshness_policy.fail_window.to_timedelta() == dt.timedelta(days=3)


def test_freshness_failure_requests_one_retrain(platform_factory):
    spec = make_spec(triggers={"drift": False, "max_model_age_days": 3})
    platform = platform_factory(spec)
    last = START + dt.timedelta(days=2)
    platform.land_and_ingest(3)
    assert platform.retrain().success
    assert platform.evaluate(last).get_num_requested(platform.keys.candidate_model) == 0

    _report(platform, FreshnessState.FAIL, FreshnessState.PASS)
    assert platform.evaluate(last).get_num_requested(platform.keys.candidate_model) == 1
    # still failing, and the request was handled: no second retrain until the state changes again
    assert platform.evaluate(last).get_num_requested(platform.keys.candidate_model) == 0


def test_no_freshness_trigger_when_max_model_age_is_turned_off(platform_factory):
    spec = make_spec(triggers={"drift": False, "max_model_age_days": None})
    platform = platform_factory(spec)
    assert platform.defs.resolve_asset_graph().get(platform.keys.production_model).freshness_policy is None
