"""The ``retrain`` command as a user runs it: exit codes, what goes to stdout and stderr, and its effects."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from retrain_platform.cli import main
from retrain_platform_tests.conftest import STRICT_GATE, spec_dict
from retrain_platform_tests.training.seeded import SEEDED_MODEL, SeededState, copy_seeded_state, seeded_platforms

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "retrain_platform" / "examples" / "specs"
ENV_VARS = ("RETRAIN_HOME", "DAGSTER_HOME", "MLFLOW_TRACKING_URI", "RETRAIN_SPECS", "RETRAIN_MLFLOW_ARTIFACTS")


def retrain_command() -> list[str]:
    """The installed console script (falls back to the module when the venv has no script directory)."""
    script = Path(sys.executable).with_name("retrain")
    return [str(script)] if script.exists() else [sys.executable, "-m", "retrain_platform.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    return env | extra


# --------------------------------------------------------------------------------------------------
# validate-spec
# --------------------------------------------------------------------------------------------------


def test_validate_spec_accepts_the_bundled_examples():
    paths = sorted(EXAMPLES.glob("*.yaml"))
    assert [p.name for p in paths] == ["churn.yaml", "sales.yaml"]
    done = subprocess.run(
        [*retrain_command(), "validate-spec", *map(str, paths)], capture_output=True, text=True, env=clean_env()
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{EXAMPLES / 'churn.yaml'}: ok (model 'churn', classification, 7 features)",
        f"{EXAMPLES / 'sales.yaml'}: ok (model 'sales', regression, 6 features)",
    ]
    assert done.stderr == ""


def test_validate_spec_names_the_file_the_field_and_the_fix(tmp_path):
    broken = tmp_path / "churn.yaml"
    text = (EXAMPLES / "churn.yaml").read_text()
    text = text.replace("training: {window_days: 14", "training: {windw_days: 14")
    text = text.replace("metric: {name: roc_auc}", "metric: {name: rmse}")
    broken.write_text(text)

    done = subprocess.run(
        [*retrain_command(), "validate-spec", str(EXAMPLES / "sales.yaml"), str(broken)],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    assert done.returncode == 1
    assert done.stdout.strip() == f"{EXAMPLES / 'sales.yaml'}: ok (model 'sales', regression, 6 features)"
    assert done.stderr.splitlines() == [
        f"{broken}: invalid model spec (2 problem(s)):",
        "  - training.windw_days: unknown field; did you mean 'window_days'?",
        "  - metric: metric 'rmse' is for regression; for classification use one of "
        "['accuracy', 'balanced_accuracy', 'f1', 'log_loss', 'precision', 'recall', 'roc_auc']",
    ]


def test_validate_spec_reports_a_missing_file(tmp_path, capsys):
    assert main(["validate-spec", str(tmp_path / "nope.yaml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{tmp_path / 'nope.yaml'}: invalid model spec (1 problem(s)):")
    assert "cannot read the file" in err


# --------------------------------------------------------------------------------------------------
# status and rollback on a RETRAIN_HOME
# --------------------------------------------------------------------------------------------------


def point_cli_at(monkeypatch, state: SeededState) -> Path:
    """Set the environment the CLI reads to ``state``, with a spec file for the seeded model."""
    spec_file = state.root / "specs" / f"{SEEDED_MODEL}.yaml"
    spec_file.parent.mkdir(parents=True, exist_ok=True)
    spec_file.write_text(yaml.safe_dump(spec_dict(SEEDED_MODEL), sort_keys=False))
    monkeypatch.setenv("RETRAIN_HOME", str(state.home))
    monkeypatch.setenv("DAGSTER_HOME", str(state.dagster_home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", state.tracking_uri)
    monkeypatch.setenv("RETRAIN_SPECS", str(spec_file.parent))
    monkeypatch.delenv("RETRAIN_MLFLOW_ARTIFACTS", raising=False)
    return spec_file


def test_status_of_an_empty_home(tmp_path, monkeypatch, capsys, mlflow_uri):
    point_cli_at(monkeypatch, SeededState(tmp_path / "empty"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)  # an existing store that never saw this model
    assert main(["status"]) == 0
    [header, row] = capsys.readouterr().out.splitlines()
    assert header.split()[:2] == ["model", "champ"]
    assert row.split()[:2] == [SEEDED_MODEL, "none"]


def test_status_and_rollback_refusals(tmp_path, tmp_path_factory, monkeypatch, capsys):
    point_cli_at(monkeypatch, copy_seeded_state(tmp_path_factory, tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "160")  # the table is cut to the terminal's width

    assert main(["status"]) == 0
    [header, row] = capsys.readouterr().out.splitlines()
    assert re.split(r"\s{2,}", header)[:4] == ["model", "champ", "metric", "holdout"]
    assert re.match(
        rf"^{SEEDED_MODEL}\s+v1\s+roc_auc\s+0\.\d+\s+-\s+0\.0d\s+2026-03-03\s+-\s+promoted v1"
        r"\s+training_volume\s+0\s+900\s+-$",
        row,
    )

    assert main(["status", "--json"]) == 0
    [data] = json.loads(capsys.readouterr().out)
    assert (data["model"], data["champion_version"], data["newest_valid_partition"]) == (
        SEEDED_MODEL,
        "1",
        "2026-03-03",
    )
    assert data["last_decision_reason"].startswith("first model; roc_auc ")

    assert main(["status", SEEDED_MODEL, "nope"]) == 2
    assert capsys.readouterr().err.strip() == f"unknown model(s) 'nope'; known: {SEEDED_MODEL}"

    # the registry unreachable for every model: rows with the error, and a non-zero exit
    monkeypatch.setenv("RETRAIN_FAILPOINTS", "registry.read_champion=error")
    assert main(["status"]) == 3
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:2] == [SEEDED_MODEL, "error"]
    assert out[2].startswith(f"{SEEDED_MODEL}: the MLflow registry at ")
    monkeypatch.delenv("RETRAIN_FAILPOINTS")

    assert main(["rollback", SEEDED_MODEL]) == 1
    assert capsys.readouterr().err.strip() == (
        f"rollback refused: {SEEDED_MODEL} v1 has no previous champion; pass --to VERSION"
    )
    assert main(["rollback", SEEDED_MODEL, "--to", "9"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"rollback refused: {SEEDED_MODEL} has no version 9; registered versions: ['1']"
    )
    assert main(["rollback", "nope"]) == 2


def test_rollback_moves_the_champion_and_status_shows_it(tmp_path, tmp_path_factory, monkeypatch, capsys):
    with seeded_platforms(tmp_path, tmp_path_factory) as make:
        platform = make(gate=STRICT_GATE)
        assert platform.retrain().success  # v2, rejected by the gate
    state = SeededState(platform.home.parent)
    point_cli_at(monkeypatch, state)

    assert main(["rollback", SEEDED_MODEL, "--to", "2", "--reason", "incident 42", "--who", "carol"]) == 0
    assert capsys.readouterr().out.strip() == f"{SEEDED_MODEL}: champion is now v2"
    champion = state.registry().champion(SEEDED_MODEL)
    assert champion.version == "2"
    assert (champion.tags["rollback.by"], champion.tags["champion.reason"]) == ("carol", "rollback: incident 42")

    assert main(["status", SEEDED_MODEL, "--json"]) == 0
    [data] = json.loads(capsys.readouterr().out)
    assert (data["champion_version"], data["last_decision"], data["last_decision_reason"]) == (
        "2",
        "rollback",
        "incident 42",
    )

    assert main(["rollback", SEEDED_MODEL]) == 0  # back to the previous champion
    assert capsys.readouterr().out.strip() == f"{SEEDED_MODEL}: champion is now v1"


# --------------------------------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_replays_both_models_and_promotes_a_first_model(tmp_path):
    home, timeline = tmp_path / "home", tmp_path / "out" / "timeline.json"
    done = subprocess.run(
        [*retrain_command(), "demo", "--days", "12", "--json", str(timeline)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=clean_env(RETRAIN_HOME=str(home)),
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    for noise in ("Traceback", "Warning:", "WARNING", "DeprecationWarning", "FutureWarning"):
        assert noise not in output, f"{noise!r} in the demo's output:\n{output[-3000:]}"

    data = json.loads(timeline.read_text())
    assert data["days"] == 12
    assert Path(data["home"]) == home
    assert set(data["timeline"]) == {"churn", "sales"}
    for model, rows in data["timeline"].items():
        assert len(rows) == 12, model
        assert [r["day"] for r in rows] == sorted(r["day"] for r in rows)
        assert all(r["validation"] in ("ok", "quarantined") for r in rows), model
        gates = [r["gate"] for r in rows if r["gate"]]
        assert gates and gates[0] == "promoted", f"{model}: no first model promoted ({gates})"
        first = next(r for r in rows if r["gate"] == "promoted")
        assert first["gate_reason"].startswith("first model"), first
        assert first["candidate_version"] == "1"

    assert "demo finished in" in done.stdout
    assert f"timeline written to {timeline}" in done.stdout
    assert (home / "dagster" / "dagster.yaml").is_file()  # the instance was seeded with the project's config
    assert (home / "mlflow" / "mlflow.db").is_file()
    shutil.rmtree(home)  # a demo home is large; do not keep it in pytest's basetemp


# ---------------------------------------------------------------------------------------------------------------------
# the demo's home: it starts without platform data and --reset only deletes a previous demo's folder


def test_demo_accepts_an_empty_home_or_one_holding_only_a_dagster_instance(tmp_path):
    from retrain_platform.cli import DEMO_MARKER, _prepare_demo_home

    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    assert _prepare_demo_home(tmp_path, reset=False) is None
    assert (tmp_path / DEMO_MARKER).exists()
    assert (tmp_path / "dagster" / "dagster.yaml").exists()  # nothing of the user's was deleted


def test_demo_refuses_a_home_with_data_it_did_not_create_even_with_reset(tmp_path):
    from retrain_platform.cli import _prepare_demo_home

    (tmp_path / "lake" / "fraud").mkdir(parents=True)
    problem = _prepare_demo_home(tmp_path, reset=True)
    assert problem is not None and "did not create" in problem and "lake" in problem
    assert (tmp_path / "lake" / "fraud").exists()


def test_demo_replays_over_a_previous_demo_only_with_reset(tmp_path):
    from retrain_platform.cli import DEMO_MARKER, _prepare_demo_home

    assert _prepare_demo_home(tmp_path, reset=False) is None
    (tmp_path / "landing" / "churn").mkdir(parents=True)
    (tmp_path / "landing" / "churn" / "2026-01-01.parquet").write_bytes(b"x")
    assert "--reset" in _prepare_demo_home(tmp_path, reset=False)
    assert _prepare_demo_home(tmp_path, reset=True) is None
    assert not (tmp_path / "landing").exists() and (tmp_path / DEMO_MARKER).exists()
