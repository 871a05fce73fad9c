"""A run worker for the fault suite: executes one job of the platform in this process, as the daemon's would.

``python -m retrain_platform_tests.faults.worker REQUEST_JSON``, with the platform's environment
(``RETRAIN_HOME``, ``MLFLOW_TRACKING_URI``, ``DAGSTER_HOME``, ``RETRAIN_SPECS``) and, for the fault being
injected, ``RETRAIN_FAILPOINTS``. The request names the job and, as a sensor or automation request would, the
partition, the tags and the asset selection. Running in its own process is the point: a fail point can kill it
with SIGKILL at an exact step, leaving the instance, the MLflow store and the lake as a real crash leaves them.

Exit status: 0 when the run succeeded, 1 when it failed (the run is recorded either way), -9 when killed.
"""

from __future__ import annotations

import json
import sys

from dagster import AssetKey, DagsterInstance

from retrain_platform.definitions import build_definitions
from retrain_platform.settings import spec_paths
from retrain_platform.spec import load_specs

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def main(argv: list[str]) -> int:
    """Execute the request in ``argv[0]`` (JSON) against the instance at ``DAGSTER_HOME``."""
    request = json.loads(argv[0])
    defs = build_definitions(load_specs(spec_paths()))
    job = defs.resolve_job_def(request["job"])
    selection = [AssetKey.from_user_string(key) for key in request.get("assets", [])] or None
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            partition_key=request.get("partition"),
            tags=request.get("tags") or {},
            asset_selection=selection,
            run_config=QUIET,
            raise_on_error=False,
        )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
