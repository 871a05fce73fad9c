"""Ctrl-C and SIGTERM stop a replay (demo or backtest); Dagster would otherwise report them as a failed run that
the replay retries, and the process would carry on."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from retrain_platform_tests.test_cli import clean_env, retrain_command


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_a_replayed_run_stops_the_replay(tmp_path, sig):
    gate = tmp_path / "copy"
    env = clean_env(RETRAIN_HOME=str(tmp_path / "home"), RETRAIN_FAILPOINTS=f"lake.copy_raw=wait:{gate}")
    proc = subprocess.Popen(
        [*retrain_command(), "demo", "--days", "5"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not gate.with_name("copy.reached").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the replay never reached its first raw copy"
            time.sleep(0.2)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, (out, err)
    assert "stopped: interrupted during run" in err
