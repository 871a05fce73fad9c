"""Helpers shared by the spec tests: the shipped example specs as editable dicts, written back as files."""

from pathlib import Path

import yaml

import retrain_platform

EXAMPLES = Path(retrain_platform.__file__).parent / "examples" / "specs"


def example(name: str) -> dict:
    """The parsed example spec ``name`` (a fresh copy each call, safe to modify)."""
    return yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())


def write_spec(directory: Path, data: object, filename: str = "spec.yaml") -> Path:
    """Write ``data`` as a YAML spec file in ``directory``."""
    path = directory / filename
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
