"""Fixtures of the automation tests."""

from __future__ import annotations

import pytest

from retrain_platform_tests.automation.helpers import NOTHING, requested
from retrain_platform_tests.training.seeded import LAST_SEEDED_DAY, seeded_platforms


@pytest.fixture
def seeded(tmp_path, tmp_path_factory):
    """A copy of the seeded champion state whose automation has already been evaluated once.

    The very first evaluation of a cursor is Dagster's "initial evaluation", which counts as handled; a running
    daemon is past it, so every copy is evaluated once (requesting nothing) before a test starts.
    """
    with seeded_platforms(tmp_path, tmp_path_factory) as make:

        def ticking(**spec_overrides):
            platform = make(**spec_overrides)
            assert requested(platform, platform.evaluate(LAST_SEEDED_DAY)) == NOTHING
            return platform

        yield ticking
