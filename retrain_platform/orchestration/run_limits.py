"""Per-model limits on the runs automation launches.

Run monitoring fails a run that has been STARTED longer than ``run_monitoring.max_runtime_seconds`` in
``dagster.yaml`` (six hours), unless the run carries its own limit in the ``dagster/max_runtime`` tag. A model
whose training legitimately takes longer, or that should fail much sooner, gets the tag from
:func:`max_runtime_seconds`; such a model then has an automation sensor of its own, since an automation sensor's
run tags apply to every run it launches (see ``retrain_platform.definitions``).
"""

from __future__ import annotations

from dagster._core.storage.tags import MAX_RUNTIME_SECONDS_TAG

from retrain_platform.spec.model_spec import ModelSpec


def max_runtime_seconds(spec: ModelSpec) -> int | None:
    """The longest a run of ``spec``'s model may take (``training.max_runtime_minutes``), or None for the
    instance-wide limit."""
    minutes = spec.training.max_runtime_minutes
    return None if minutes is None else max(1, round(minutes * 60))


def run_tags(spec: ModelSpec) -> dict[str, str]:
    """The run tags automation puts on ``spec``'s runs (``dagster/max_runtime`` when the model sets a limit)."""
    limit = max_runtime_seconds(spec)
    return {} if limit is None else {MAX_RUNTIME_SECONDS_TAG: str(limit)}
