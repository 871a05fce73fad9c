"""The registry's per-process cache of loaded models: a hit is the same object, and the cache is bounded.

Versions are logged with the real ``ModelRegistry.log_candidate`` into a SQLite MLflow store in the test's folder.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from retrain_platform.registry import mlflow_registry
from retrain_platform.registry.mlflow_registry import LOADED_MODELS_KEPT, ModelRegistry
from retrain_platform_tests.conftest import make_spec

SPEC = make_spec("cached", features={"a": {"type": "float"}, "b": {"type": "float"}})


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    mlflow_registry._load_trusted.cache_clear()
    yield ModelRegistry(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=(tmp_path / "a").as_uri())
    mlflow_registry._load_trusted.cache_clear()


def _log(registry: ModelRegistry, seed: int):
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    estimator = LogisticRegression().fit(x, (x["a"] + rng.normal(size=40) > 0).astype(int))
    return registry.log_candidate(SPEC, estimator, params={}, metrics={}, tags={})


def test_a_loaded_version_is_reused_and_the_cache_keeps_only_the_most_recent_versions(registry):
    versions = [_log(registry, seed) for seed in range(LOADED_MODELS_KEPT + 2)]
    first = registry.load(versions[0])
    assert registry.load(versions[0]) is first, "a second load of the same version must be a cache hit"

    for info in versions[1:]:
        registry.load(info)
    assert mlflow_registry._load_trusted.cache_info().currsize == LOADED_MODELS_KEPT

    reloaded = registry.load(versions[0])
    assert reloaded is not first, "the least recently used version must have been evicted"
    assert np.array_equal(reloaded.coef_, first.coef_), "an evicted version reloads to the same model"
    assert registry.load(versions[-1]) is registry.load(versions[-1])
