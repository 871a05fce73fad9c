"""Reading spec files: file-level failures, error formatting, typo suggestions and multi-file loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain_platform.spec import SpecError, load_spec, load_specs, parse_spec
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform_tests.spec.spec_files import EXAMPLES, example, write_spec


def load_error(path: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return info.value


# --------------------------------------------------------------------------------------------------
# SpecError
# --------------------------------------------------------------------------------------------------


def test_spec_error_format() -> None:
    err = SpecError(Path("specs/x.yaml"), ["a: first", "b: second"])
    assert isinstance(err, ValueError)
    assert err.path == Path("specs/x.yaml")
    assert err.problems == ["a: first", "b: second"]
    assert str(err) == "specs/x.yaml: invalid model spec (2 problem(s)):\n  - a: first\n  - b: second"


def test_load_spec_accepts_str_and_path() -> None:
    assert load_spec(str(EXAMPLES / "churn.yaml")) == load_spec(EXAMPLES / "churn.yaml")


def test_parse_spec_validates_a_dict_and_names_the_given_path() -> None:
    assert isinstance(parse_spec(example("sales"), Path("sales.yaml")), ModelSpec)
    data = example("sales")
    data["training"]["windw_days"] = data["training"].pop("window_days")
    with pytest.raises(SpecError) as info:
        parse_spec(data, Path("somewhere/sales.yaml"))
    assert str(info.value).startswith("somewhere/sales.yaml: invalid model spec (1 problem(s))")
    assert info.value.problems == ["training.windw_days: unknown field; did you mean 'window_days'?"]


# --------------------------------------------------------------------------------------------------
# files that cannot be read or parsed
# --------------------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    err = load_error(path)
    assert err.path == path
    assert str(err).startswith(f"{path}: ")
    assert err.problems == ["cannot read the file: No such file or directory"]


def test_directory_instead_of_file(tmp_path: Path) -> None:
    err = load_error(tmp_path)
    assert str(err).startswith(f"{tmp_path}: ")
    (problem,) = err.problems
    assert problem.startswith("cannot read the file:")
    assert "directory" in problem.lower()


def test_binary_file_is_reported_as_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00n\x00a\x00m\x00e")
    err = load_error(path)
    assert str(err).startswith(f"{path}: ")
    assert "cannot read the file" in err.problems[0]


def test_invalid_yaml_names_file_and_position(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    text = (EXAMPLES / "churn.yaml").read_text().replace("metric: {name: roc_auc}", "metric: {name: roc_auc")
    assert text != (EXAMPLES / "churn.yaml").read_text()
    path.write_text(text)
    err = load_error(path)
    assert str(err).startswith(f"{path}: ")
    (problem,) = err.problems
    assert problem.startswith("not valid YAML:")
    assert "line" in problem and "column" in problem


def test_yaml_list_instead_of_mapping(tmp_path: Path) -> None:
    path = write_spec(tmp_path, [example("churn")])
    err = load_error(path)
    assert str(err).startswith(f"{path}: ")
    assert err.problems == ["the file must hold a mapping of fields, not list"]


@pytest.mark.parametrize("text", ["", "just a string\n", "42\n"])
def test_yaml_scalar_or_empty_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "scalar.yaml"
    path.write_text(text)
    (problem,) = load_error(path).problems
    assert problem.startswith("the file must hold a mapping of fields, not ")


# --------------------------------------------------------------------------------------------------
# typo suggestions
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "typo", "expected"),
    [
        (None, "trainig", "training"),
        (None, "featurs", "features"),
        ("training", "windw_days", "window_days"),
        ("training", "holdout_fracton", "holdout_fraction"),
        ("gate", "min_improvment", "min_improvement"),
        ("triggers", "max_model_age", "max_model_age_days"),
        ("partitions", "start_dat", "start_date"),
    ],
)
def test_typo_suggests_the_field(tmp_path: Path, section: str | None, typo: str, expected: str) -> None:
    data = example("churn")
    node = data if section is None else data[section]
    node[typo] = node.pop(expected, 0.01)  # a field the example leaves at its default gets a value to misspell
    path = write_spec(tmp_path, data)
    err = load_error(path)
    where = typo if section is None else f"{section}.{typo}"
    assert f"{where}: unknown field; did you mean {expected!r}?" in err.problems
    assert str(err).startswith(f"{path}: ")


def test_typo_with_no_close_match_lists_allowed_fields(tmp_path: Path) -> None:
    data = example("churn")
    data["landing"]["bucket"] = "s3://x"
    (problem,) = load_error(write_spec(tmp_path, data)).problems
    assert problem == "landing.bucket: unknown field; allowed fields here: format, path"


TYPOS_IN_MAPPINGS = {
    "feature_column": (("features", "plan"), "categoris", "categories"),
    "nullable_feature_column": (("features", "data_usage_gb"), "max_nul_fraction", "max_null_fraction"),
    "drift_column_override": (("drift", "columns", "tenure_months"), "treshold", "threshold"),
}


@pytest.mark.parametrize(("where", "typo", "expected"), TYPOS_IN_MAPPINGS.values(), ids=TYPOS_IN_MAPPINGS)
def test_typo_inside_a_mapping_of_models_suggests_the_field(
    tmp_path: Path, where: tuple[str, ...], typo: str, expected: str
) -> None:
    data = example("churn")
    data["drift"]["columns"] = {"tenure_months": {"threshold": 0.1}}
    node = data
    for part in where:
        node = node[part]
    node[typo] = node.pop(expected, None) or 0.1
    (problem,) = load_error(write_spec(tmp_path, data)).problems
    assert problem == f"{'.'.join(where)}.{typo}: unknown field; did you mean {expected!r}?"


def test_typo_inside_a_preprocessing_step_suggests_the_field(tmp_path: Path) -> None:
    data = example("churn")
    data["model"]["preprocessing"] = [{"class": "sklearn.preprocessing.StandardScaler", "parms": {}}]
    (problem,) = load_error(write_spec(tmp_path, data)).problems
    assert "did you mean 'params'?" in problem
    assert "list[" not in problem


# --------------------------------------------------------------------------------------------------
# estimator problems surface through the loader
# --------------------------------------------------------------------------------------------------


def test_estimator_problem_is_a_spec_error_naming_the_file(tmp_path: Path) -> None:
    data = example("churn")
    data["model"]["estimator"]["class"] = "sklearn.linear_model.LogisticRegresion"
    path = write_spec(tmp_path, data)
    err = load_error(path)
    assert str(err).startswith(f"{path}: invalid model spec (1 problem(s))")
    (problem,) = err.problems
    assert problem.startswith("model.estimator.class:")
    assert "'LogisticRegresion'" in problem


# --------------------------------------------------------------------------------------------------
# load_specs
# --------------------------------------------------------------------------------------------------


def test_load_specs_from_the_examples_folder() -> None:
    specs = load_specs([EXAMPLES])
    assert [s.name for s in specs] == ["churn", "sales"]


def test_load_specs_mixes_files_and_folders_and_reads_yml(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    churn = example("churn")
    churn["name"] = "churn_b"
    write_spec(folder, churn, "b.yml")
    sales = example("sales")
    sales["name"] = "sales_a"
    write_spec(folder, sales, "a.yaml")
    (folder / "notes.txt").write_text("not a spec")
    single = write_spec(tmp_path, example("churn"), "single.yaml")

    specs = load_specs([str(single), folder])
    # files first in the order given; inside a folder, .yaml files (sorted) then .yml files
    assert [s.name for s in specs] == ["churn", "sales_a", "churn_b"]


def test_load_specs_empty_folder(tmp_path: Path) -> None:
    assert load_specs([tmp_path]) == []


def test_load_specs_rejects_duplicate_names_across_files(tmp_path: Path) -> None:
    first = write_spec(tmp_path, example("churn"), "a_churn.yaml")
    second_data = example("churn")
    second_data["description"] = "a copy"
    second = write_spec(tmp_path, second_data, "b_churn_copy.yaml")

    with pytest.raises(SpecError) as info:
        load_specs([tmp_path])
    err = info.value
    assert err.path == second
    assert str(err).startswith(f"{second}: ")
    (problem,) = err.problems
    assert problem.startswith("name:")
    assert "'churn' is already defined in" in problem
    assert str(first) in problem
    assert "rename one" in problem


def test_load_specs_reports_the_invalid_file(tmp_path: Path) -> None:
    write_spec(tmp_path, example("churn"), "a.yaml")
    bad = example("sales")
    bad["metric"]["name"] = "accuracy"
    bad_path = write_spec(tmp_path, bad, "b.yaml")
    with pytest.raises(SpecError) as info:
        load_specs([tmp_path])
    assert info.value.path == bad_path
    assert str(info.value).startswith(f"{bad_path}: ")


def test_load_specs_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(SpecError) as info:
        load_specs([missing])
    assert info.value.path == missing
    assert "cannot read the file" in info.value.problems[0]
