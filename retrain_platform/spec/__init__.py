"""Model specs: the YAML contract a user writes to onboard a model."""

from retrain_platform.spec.loader import SpecError, load_spec, load_specs, parse_spec
from retrain_platform.spec.model_spec import ColumnSpec, ModelSpec

__all__ = ["ColumnSpec", "ModelSpec", "SpecError", "load_spec", "load_specs", "parse_spec"]
