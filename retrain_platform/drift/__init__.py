"""Fast data drift checks that give evidently 0.7's ``DataDriftPreset`` verdicts.

Usage::

    kinds = {"age": "numerical", "plan": "categorical"}
    sketch = ReferenceSketch.from_frame(reference_df, column_kinds=kinds)
    sketch.save(model_dir / "drift_sketch")            # once, when the champion is promoted
    sketch = ReferenceSketch.load(model_dir / "drift_sketch")
    result = detect_drift(current_df, sketch, drift_share=0.5,
                          overrides={"age": ColumnOverride(method="psi", threshold=0.2)})
    description = write_drift_report(current_df, sketch, report_path)   # sampled evidently HTML

Modules, one job each:

* :mod:`.columns`   - column kinds; cleaning a column into sorted values or category counts
* :mod:`.methods`   - the drift methods (ks, wasserstein, chisquare, z, jensenshannon, psi)
* :mod:`.selection` - evidently's default method per column (type, rows, distinct values)
* :mod:`.options`   - :class:`ColumnOverride` and parameter validation
* :mod:`.sketch`    - :class:`ReferenceSketch`: build once, save, load
* :mod:`.detect`    - :func:`detect_drift` and the defined edge-case behaviour
* :mod:`.result`    - :class:`DriftResult`, :class:`ColumnDrift`
* :mod:`.sampling`  - bounded reproducible row samples
* :mod:`.report`    - :func:`write_drift_report` (imports evidently, so it is loaded lazily here)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retrain_platform.drift.columns import CATEGORICAL, NUMERICAL
from retrain_platform.drift.detect import detect_drift
from retrain_platform.drift.methods import SUPPORTED_METHODS
from retrain_platform.drift.options import ColumnOverride
from retrain_platform.drift.result import ColumnDrift, DriftResult
from retrain_platform.drift.sketch import ReferenceSketch

if TYPE_CHECKING:
    from retrain_platform.drift.report import write_drift_report

__all__ = [
    "CATEGORICAL",
    "NUMERICAL",
    "SUPPORTED_METHODS",
    "ColumnDrift",
    "ColumnOverride",
    "DriftResult",
    "ReferenceSketch",
    "detect_drift",
    "write_drift_report",
]


def __getattr__(name: str) -> Any:
    # evidently takes seconds to import; only the report needs it.
    if name == "write_drift_report":
        from retrain_platform.drift.report import write_drift_report

        return write_drift_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
