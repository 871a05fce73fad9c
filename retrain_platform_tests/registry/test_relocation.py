"""A home restored elsewhere: its MLflow store is refused until relocated, then serves the same champion.

Everything is real: the embedded defaults (SQLite store and artifact folder under the home, as
``build_resources`` makes them), a champion trained and promoted through the platform's own jobs, a home copied
and moved with ``shutil``, and ``retrain relocate-home`` through the CLI.
"""

from __future__ import annotations

import os
import shutil
import sqlite3

import pytest
from dagster import Failure

from retrain_platform.cli import main
from retrain_platform.registry import ModelRegistry
from retrain_platform.registry.relocation import RelocationRefused, old_prefixes, relocate_home
from retrain_platform.settings import embedded_artifact_root, embedded_tracking_uri
from retrain_platform.storage.lake import PARTITION_COLUMN, Lake
from retrain_platform_tests.conftest import START, Platform, make_spec

pytestmark = pytest.mark.slow


def embedded(home) -> ModelRegistry:
    """The registry a home's embedded defaults give (what ``build_resources`` makes without MLFLOW_* set)."""
    return ModelRegistry(tracking_uri=embedded_tracking_uri(home), artifact_root=embedded_artifact_root(home))


@pytest.fixture
def trained_home(tmp_path, instance):
    """A home whose embedded MLflow store holds a promoted champion; returns (home, spec)."""
    home = tmp_path / "original"
    platform = Platform(make_spec(), home, instance, embedded(home))
    platform.land_and_ingest(4)
    assert platform.retrain().success
    assert platform.registry.champion(platform.spec.name).version == "1"
    return home, platform.spec


def predictions(registry: ModelRegistry, home, spec):
    model = registry.load(registry.champion(spec.name))
    rows = Lake(root=str(home)).read_features(spec.name, [START.isoformat()])
    return model.predict(rows.drop(columns=[spec.target.name, PARTITION_COLUMN]))


def test_a_copied_home_is_refused_until_relocated_then_loads_the_same_champion(trained_home, tmp_path, monkeypatch):
    original, spec = trained_home
    expected = predictions(embedded(original), original, spec)

    # A copy while the original still exists: MLflow would silently read the original's files.
    restored = tmp_path / "restored"
    shutil.copytree(original, restored)
    with pytest.raises(Failure, match="retrain relocate-home"):
        embedded(restored).load(embedded(restored).champion(spec.name))
    assert old_prefixes(restored) == {embedded_artifact_root(original)}

    before = (restored / "mlflow" / "mlflow.db").read_bytes()
    preview = relocate_home(restored, dry_run=True)
    assert preview.total >= 4 and preview.backup is None
    assert (restored / "mlflow" / "mlflow.db").read_bytes() == before, "a dry run changes nothing"

    shutil.rmtree(original)  # the original is gone now: only the relocated store can serve
    monkeypatch.setenv("RETRAIN_HOME", str(restored))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["relocate-home"]) == 0
    assert list((restored / "mlflow").glob("mlflow.db.bak-*")), "the store is backed up before the change"
    assert old_prefixes(restored) == set()
    assert (predictions(embedded(restored), restored, spec) == expected).all()
    assert relocate_home(restored).total == 0, "relocating again changes nothing"


def test_relocation_only_touches_the_chosen_old_root(trained_home, tmp_path):
    original, spec = trained_home
    moved = tmp_path / "moved"
    shutil.move(original, moved)
    store = moved / "mlflow" / "mlflow.db"
    elsewhere = "file:///data/original2/mlflow/artifacts/x"  # shares a prefix with the old home's path
    with sqlite3.connect(store) as db:
        db.execute("UPDATE runs SET artifact_uri = ? WHERE rowid = (SELECT min(rowid) FROM runs)", (elsewhere,))

    with pytest.raises(RelocationRefused, match="pass --from"):
        relocate_home(moved)
    done = relocate_home(moved, str(original))
    assert done.total >= 3 and done.missing == []
    assert old_prefixes(moved) == {"file:///data/original2/mlflow/artifacts"}
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT count(*) FROM runs WHERE artifact_uri = ?", (elsewhere,)).fetchone()[0] == 1


def test_a_tracking_server_or_a_missing_store_is_refused_with_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RETRAIN_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["relocate-home"]) == 1
    assert "no MLflow store in this home; set RETRAIN_HOME to the moved home" in capsys.readouterr().err

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql+psycopg2://mlflow:secret@db.internal/mlflow")
    assert main(["relocate-home", "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "a tracking server keeps its own artifact locations" in err and "secret" not in err


def test_training_leaves_the_processs_choice_of_tracking_store_alone(platform, monkeypatch):
    # MLflow's set_tracking_uri writes MLFLOW_TRACKING_URI into the environment, where the platform reads the
    # user's choice: after a training, resources built in the same process must not follow the last store used.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    platform.land_and_ingest(4)
    assert platform.retrain().success and platform.registry.champion(platform.spec.name) is not None
    assert "MLFLOW_TRACKING_URI" not in os.environ
