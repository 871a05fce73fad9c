"""A folder of specs with shared defaults: merged under every spec, validated as a whole, errors traced to the file.

The fifty-model case is the docs' own recipe: one table (a CSV) of what differs per model, one ``defaults.yaml``
of what is shared, and one small spec file per row.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
import yaml

from retrain_platform.cli import main
from retrain_platform.definitions import build_definitions
from retrain_platform.spec import SpecError, load_spec, load_specs
from retrain_platform.spec.loader import DEFAULTS_FILE, merge_defaults

DEFAULTS = {
    "task": "classification",
    "target": {"name": "churned", "type": "int", "categories": [0, 1]},
    "partitions": {"start_date": "2026-01-01"},
    "model": {"estimator": {"class": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 200}}},
    "training": {"window_days": 14, "min_partitions": 5},
    "metric": {"name": "roc_auc"},
    "gate": {"tolerance": 0.02},
    "triggers": {"drift": True, "performance_floor": 0.7},
}


def model(name: str, **extra) -> dict:
    return {
        "name": name,
        "features": {"tenure": {"type": "int", "min": 0}, "plan": {"type": "category", "categories": ["a", "b"]}},
        "landing": {"path": f"landing/{name}"},
        **extra,
    }


def folder(tmp_path: Path, defaults: object, *specs: dict) -> Path:
    root = tmp_path / "models"
    root.mkdir()
    (root / DEFAULTS_FILE).write_text(yaml.safe_dump(defaults, sort_keys=False))
    for spec in specs:
        (root / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return root


def test_defaults_merge_under_every_spec_at_every_depth(tmp_path):
    root = folder(
        tmp_path,
        DEFAULTS,
        model("emea"),
        model("apac", training={"window_days": 30}, triggers={"performance_floor": 0.65}),
    )

    apac, emea = load_specs([root])

    assert (emea.training.window_days, emea.training.min_partitions) == (14, 5)
    assert (apac.training.window_days, apac.training.min_partitions) == (30, 5)  # one field replaced, one kept
    assert apac.triggers.performance_floor == 0.65 and apac.triggers.drift is True
    assert emea.gate.tolerance == apac.gate.tolerance == 0.02
    assert load_spec(root / "emea.yaml") == emea  # one file alone gets its folder's defaults too


def test_lists_are_replaced_not_merged():
    merged = merge_defaults({"target": {"categories": [0, 1], "name": "y"}}, {"target": {"categories": ["no", "yes"]}})
    assert merged == {"target": {"categories": ["no", "yes"], "name": "y"}}


def test_a_bad_default_is_reported_for_each_spec_and_traced_to_the_defaults(tmp_path):
    root = folder(tmp_path, {**DEFAULTS, "training": {"window_days": 0}}, model("emea"), model("apac"))

    with pytest.raises(SpecError) as raised:
        load_specs([root])

    [problem] = raised.value.problems
    assert str(raised.value.path).endswith("apac.yaml")
    assert problem.startswith("training.window_days:") and problem.endswith(f"(set in {DEFAULTS_FILE})")


def test_defaults_that_name_a_model_or_are_not_a_mapping_are_refused(tmp_path):
    with pytest.raises(SpecError, match="a model's name cannot be a default"):
        load_specs([folder(tmp_path, {**DEFAULTS, "name": "x"}, model("emea"))])
    (tmp_path / "models" / DEFAULTS_FILE).write_text("- not\n- a mapping\n")
    with pytest.raises(SpecError, match="must be a mapping of spec fields, not list"):
        load_specs([tmp_path / "models"])


def test_validate_spec_checks_a_folder_as_a_whole(tmp_path, capsys):
    root = folder(tmp_path, DEFAULTS, model("emea"), model("apac"))
    assert main(["validate-spec", "--no-fit", str(root)]) == 0
    out = capsys.readouterr().out
    assert "apac.yaml: ok" in out and "emea.yaml: ok" in out and DEFAULTS_FILE not in out

    (root / "copy.yaml").write_text(yaml.safe_dump(model("emea")))
    assert main(["validate-spec", "--no-fit", str(root)]) == 1
    assert "model 'emea' is already defined in" in capsys.readouterr().err


def test_fifty_models_from_one_table(tmp_path, capsys):
    table = tmp_path / "models.csv"
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "window_days", "floor"])
        writer.writerows([f"region_{i:02d}", 14 + i % 3 * 7, 0.6 + i % 5 / 100] for i in range(50))
    root = tmp_path / "models"
    root.mkdir()
    (root / DEFAULTS_FILE).write_text(yaml.safe_dump(DEFAULTS, sort_keys=False))
    # The recipe of docs/model-spec.md: what differs per model comes from the table.
    with table.open() as handle:
        for row in csv.DictReader(handle):
            spec = model(
                row["name"],
                training={"window_days": int(row["window_days"])},
                triggers={"performance_floor": float(row["floor"])},
            )
            (root / f"{row['name']}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))

    started = time.perf_counter()
    specs = load_specs([root])
    loaded = time.perf_counter() - started
    defs = build_definitions(specs, tmp_path / "home")

    assert len(specs) == 50 and {s.training.window_days for s in specs} == {14, 21, 28}
    assert len(defs.resolve_all_asset_specs()) == 50 * 6
    print(f"50 specs loaded in {loaded:.2f} s")
