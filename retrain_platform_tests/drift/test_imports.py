"""The check path stays light: evidently (seconds to import) is loaded only for the HTML report."""

from __future__ import annotations

import subprocess
import sys


def test_drift_checks_do_not_import_evidently() -> None:
    code = (
        "import sys\n"
        "from retrain_platform.drift import ReferenceSketch, detect_drift, ColumnOverride, SUPPORTED_METHODS\n"
        "assert 'evidently' not in sys.modules, 'evidently was imported'\n"
        "from retrain_platform.drift import write_drift_report\n"
        "assert 'evidently' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
