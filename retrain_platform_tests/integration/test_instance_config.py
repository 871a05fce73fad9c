"""The shipped ``dagster.yaml``: every key is one the installed Dagster accepts, and the instance it makes
monitors runs with the platform's launcher and retries failed runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config

from retrain_platform.orchestration.run_launcher import LocalRunLauncher

REPO_DAGSTER_YAML = Path(__file__).resolve().parents[2] / "dagster.yaml"


@pytest.fixture
def home(tmp_path) -> Path:
    """A DAGSTER_HOME holding a copy of the shipped ``dagster.yaml``."""
    shutil.copyfile(REPO_DAGSTER_YAML, tmp_path / "dagster.yaml")
    return tmp_path


def test_the_schema_accepts_every_key_and_refuses_a_misspelt_one(tmp_path):
    config, custom_class = dagster_instance_config(str(REPO_DAGSTER_YAML.parent))
    assert custom_class is None
    assert set(config["run_monitoring"]) == {
        "enabled",
        "poll_interval_seconds",
        "start_timeout_seconds",
        "cancel_timeout_seconds",
        "max_runtime_seconds",
        "free_slots_after_run_end_seconds",
    }
    text = REPO_DAGSTER_YAML.read_text()
    for good, bad in (("max_runtime_seconds:", "max_run_time_seconds:"), ("max_retries:", "max_retry:")):
        (tmp_path / "dagster.yaml").write_text(text.replace(good, bad))
        with pytest.raises(DagsterInvalidConfigError):
            dagster_instance_config(str(tmp_path))


def test_the_instance_monitors_runs_with_the_health_checking_launcher_and_retries(home):
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_launcher) is LocalRunLauncher
        assert instance.run_launcher.supports_check_run_worker_health
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_poll_interval_seconds == 30
        assert instance.run_monitoring_start_timeout_seconds == 180
        assert instance.run_monitoring_cancel_timeout_seconds == 180
        assert instance.run_monitoring_max_runtime_seconds == 6 * 3600
        # the launcher cannot resume a run in a new worker: a dead worker's run must fail (then be retried)
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_retries_enabled
        assert instance.run_retries_max_retries == 2
        assert instance.run_retries_retry_on_asset_or_op_failure


def test_dagster_instance_info_accepts_the_file(home):
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run(
        [str(dagster), "instance", "info"], capture_output=True, text=True, env=env, cwd=home, timeout=300
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "module: retrain_platform.orchestration.run_launcher\n  class: LocalRunLauncher" in done.stdout
