"""Reading spec files and turning pydantic's errors into messages that name the file, the field and the fix."""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from retrain_platform.spec.model_spec import ModelSpec


class SpecError(ValueError):
    """A spec file that cannot be used; ``str()`` lists every problem with its field path and fix."""

    def __init__(self, path: Path, problems: list[str]):
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: invalid model spec ({len(problems)} problem(s)):\n{lines}")


def _model_in(annotation) -> type[BaseModel] | None:
    """The pydantic model an annotation holds: itself, or inside Optional/Union/list[...]/dict[str, ...]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _walk(location: tuple, root: type[BaseModel], named: bool) -> tuple[type[BaseModel] | None, list]:
    """Follow a pydantic error location: the model that owns its last part, and the path without union tags.

    ``named``: the last part names a field that may not exist (an unknown or a missing field); keep it as is.
    """
    model: type[BaseModel] | None = root
    owner: type[BaseModel] | None = root
    path: list = []
    expect_key = False
    for i, part in enumerate(location):
        owner = model
        if (named and i == len(location) - 1) or expect_key or not isinstance(part, str):
            expect_key = False  # a dict key (features.<column>) or a list index: the value model is selected
            path.append(part)
            continue
        field = (
            None
            if model is None
            else model.model_fields.get(part) or next((f for f in model.model_fields.values() if f.alias == part), None)
        )
        if field is None:
            if model is None:
                path.append(part)
            continue  # a union member tag such as "steps": not part of the user's path
        path.append(part)
        model = _model_in(field.annotation)
        expect_key = typing.get_origin(field.annotation) is dict
    return owner, path


def _describe(error: dict, root: type[BaseModel]) -> str:
    location = tuple(error["loc"])
    owner, path = _walk(location, root, named=error["type"] in ("extra_forbidden", "missing"))
    where = ".".join(str(p) for p in path) or "(top level)"
    if error["type"] == "extra_forbidden":
        names = [f.alias or n for n, f in owner.model_fields.items()] if owner else []
        close = difflib.get_close_matches(str(location[-1]), names, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed fields here: {', '.join(sorted(names))}"
        return f"{where}: unknown field; {hint}"
    if error["type"] == "missing":
        return f"{where}: required field is missing; add it"
    message = error["msg"].removeprefix("Value error, ")
    return (
        f"{where}: {message} (got {error.get('input')!r})" if error["type"] != "value_error" else f"{where}: {message}"
    )


def parse_spec(data: object, path: Path, *, build: bool = True) -> ModelSpec:
    """Validate already-parsed YAML as a :class:`ModelSpec`, raising :class:`SpecError` with readable problems.

    ``build=False`` skips instantiating the estimator, which imports scikit-learn (over a second): for readers
    of a spec's other sections, such as ``retrain status``; definitions and ``validate-spec`` always build it.
    """
    if not isinstance(data, dict):
        raise SpecError(path, [f"the file must hold a mapping of fields, not {type(data).__name__}"])
    try:
        spec = ModelSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(path, [_describe(e, ModelSpec) for e in err.errors()]) from None
    if not build:
        return spec
    from retrain_platform.spec.estimator import EstimatorError, build_estimator

    try:
        build_estimator(spec)  # instantiating is the only reliable check of import paths and params
    except EstimatorError as err:
        raise SpecError(path, [str(err)]) from None
    return spec


DEFAULTS_FILE = "defaults.yaml"
"""In a folder of specs, the shared defaults merged under every spec beside it (not a spec itself)."""


def _read_yaml(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SpecError(path, [f"cannot read the file: {err.strerror}"]) from None
    except UnicodeDecodeError as err:
        raise SpecError(path, [f"cannot read the file: not UTF-8 text ({err.reason} at byte {err.start})"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecError(path, [f"not valid YAML: {err}"]) from None


def merge_defaults(defaults: dict, spec: dict) -> dict:
    """``spec`` over ``defaults``: mappings merge key by key at every depth; any other value in ``spec`` wins.

    Lists are values, not merged: a spec's ``categories`` or ``preprocessing`` replaces the default's whole.
    """
    merged = dict(defaults)
    for key, value in spec.items():
        base = merged.get(key)
        merged[key] = merge_defaults(base, value) if isinstance(base, dict) and isinstance(value, dict) else value
    return merged


def folder_defaults(folder: Path) -> dict | None:
    """The ``defaults.yaml`` of ``folder`` (None when there is none); a :class:`SpecError` if it is not a mapping."""
    path = folder / DEFAULTS_FILE
    if not path.is_file():
        return None
    data = _read_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SpecError(path, [f"the defaults must be a mapping of spec fields, not {type(data).__name__}"])
    if "name" in data:
        raise SpecError(path, ["name: a model's name cannot be a default; set it in each spec"])
    return data


def _from_defaults(problem: str, data: dict, defaults: dict) -> str:
    """``problem`` marked as coming from the defaults when the spec file itself does not set that field."""
    spec_node, default_node = data, defaults
    for part in problem.split(":", 1)[0].split("."):
        in_spec = isinstance(spec_node, dict) and part in spec_node
        in_defaults = isinstance(default_node, dict) and part in default_node
        if not in_spec:
            return f"{problem} (set in {DEFAULTS_FILE})" if in_defaults else problem
        spec_node = spec_node[part]
        default_node = default_node[part] if in_defaults else None
    return problem


def load_spec(path: str | Path, defaults: dict | None = None, *, build: bool = True) -> ModelSpec:
    """Read and validate one YAML model spec, over ``defaults`` (else its folder's ``defaults.yaml``, if any);
    ``build`` as in :func:`parse_spec`."""
    path = Path(path)
    if defaults is None:
        defaults = folder_defaults(path.parent)
    data = _read_yaml(path)
    if not defaults or not isinstance(data, dict):
        return parse_spec(data, path, build=build)
    try:
        return parse_spec(merge_defaults(defaults, data), path, build=build)
    except SpecError as err:
        raise SpecError(path, [_from_defaults(p, data, defaults) for p in err.problems]) from None


def spec_files(paths: Iterable[str | Path]) -> list[Path]:
    """The spec files named by ``paths``: files as given, and every ``*.yaml``/``*.yml`` of a folder but its
    ``defaults.yaml``."""
    files: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            found = sorted([*entry.glob("*.yaml"), *entry.glob("*.yml")])
            files.extend(f for f in found if f.name != DEFAULTS_FILE)
        else:
            files.append(entry)
    return files


def load_specs(paths: Iterable[str | Path], *, build: bool = True) -> list[ModelSpec]:
    """Load every spec from files or folders (a folder's ``defaults.yaml`` merged under each), refusing duplicate
    model names; ``build`` as in :func:`parse_spec`."""
    specs: list[ModelSpec] = []
    seen: dict[str, Path] = {}
    for file in spec_files(paths):
        spec = load_spec(file, build=build)
        if spec.name in seen:
            raise SpecError(file, [f"name: model {spec.name!r} is already defined in {seen[spec.name]}; rename one"])
        seen[spec.name] = file
        specs.append(spec)
    return specs
