"""Reading spec files and turning pydantic's errors into messages that name the file, the field and the fix."""

from __future__ import annotations

import difflib
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


def _model_at(location: tuple, root: type[BaseModel]) -> type[BaseModel] | None:
    """Walk a pydantic error location to the model class that owns its last field (for typo suggestions)."""
    model: type[BaseModel] | None = root
    for part in location[:-1]:
        if model is None or not isinstance(part, str):
            # dict keys / list indices: the model of a dict[str, Model] value is its annotation's argument.
            continue
        field = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        if field is None:
            return None
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
    return model


def _describe(error: dict, root: type[BaseModel]) -> str:
    location = tuple(error["loc"])
    where = ".".join(str(p) for p in location) or "(top level)"
    if error["type"] == "extra_forbidden":
        owner = _model_at(location, root)
        names = [f.alias or n for n, f in owner.model_fields.items()] if owner else []
        close = difflib.get_close_matches(str(location[-1]), names, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed fields here: {', '.join(sorted(names))}"
        return f"{where}: unknown field; {hint}"
    if error["type"] == "missing":
        return f"{where}: required field is missing; add it"
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message} (got {error.get('input')!r})" if error["type"] != "value_error" else f"{where}: {message}"


def parse_spec(data: object, path: Path) -> ModelSpec:
    """Validate already-parsed YAML as a :class:`ModelSpec`, raising :class:`SpecError` with readable problems."""
    if not isinstance(data, dict):
        raise SpecError(path, [f"the file must hold a mapping of fields, not {type(data).__name__}"])
    try:
        spec = ModelSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(path, [_describe(e, ModelSpec) for e in err.errors()]) from None
    from retrain_platform.spec.estimator import EstimatorError, build_estimator

    try:
        build_estimator(spec)  # instantiating is the only reliable check of import paths and params
    except EstimatorError as err:
        raise SpecError(path, [str(err)]) from None
    return spec


def load_spec(path: str | Path) -> ModelSpec:
    """Read and validate one YAML model spec."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise SpecError(path, [f"cannot read the file: {err.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecError(path, [f"not valid YAML: {err}"]) from None
    return parse_spec(data, path)


def load_specs(paths: Iterable[str | Path]) -> list[ModelSpec]:
    """Load every spec from files or folders (``*.yaml``/``*.yml`` inside), refusing duplicate model names."""
    files: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            files.extend(sorted([*entry.glob("*.yaml"), *entry.glob("*.yml")]))
        else:
            files.append(entry)
    specs: list[ModelSpec] = []
    seen: dict[str, Path] = {}
    for file in files:
        spec = load_spec(file)
        if spec.name in seen:
            raise SpecError(file, [f"name: model {spec.name!r} is already defined in {seen[spec.name]}; rename one"])
        seen[spec.name] = file
        specs.append(spec)
    return specs
