"""``make bench-scale`` stays runnable: its specs load, its table reads its own results, and one small run works."""

from __future__ import annotations

import json

import pytest

from retrain_platform.spec import load_specs
from retrain_platform_tests.benchmarks import scale_benchmark


def test_the_generated_specs_load_from_one_table_and_defaults(tmp_path):
    specs = load_specs([scale_benchmark.write_specs(tmp_path, 3)])
    assert [s.name for s in specs] == ["region_00", "region_01", "region_02"]
    assert [s.training.window_days for s in specs] == [14, 21, 28]
    assert {s.landing.format for s in specs} == {"parquet"}


def test_the_table_shows_ratios_against_linear_and_the_targets():
    def result(n: int, scale: float) -> dict:
        values = {key: scale for key, *_ in scale_benchmark.ROWS}
        return {**values, "backfill_models": 1, "backfill_runs": 30, "models": n}

    table = scale_benchmark.format_table({1: result(1, 1.0), 10: result(10, 2.0), 50: result(50, 12.0)})
    assert "x2.0 (lin x10)" in table and "x6.0 (lin x5)" in table
    assert "<= 5 s @50: MISS" in table and "<= 3 s @50: MISS" in table
    assert "linear (+25%): MISS" in table  # the per-model row grew 6x where linear is 1x


@pytest.mark.slow
def test_one_model_quick_run_writes_every_measurement(tmp_path, capsys):
    out = tmp_path / "scale.json"
    assert scale_benchmark.main(["--models", "1", "--quick", "--days", "2", "--json", str(out)]) == 0
    [result] = json.loads(out.read_text())["models"].values()
    assert result["replay_runs"] == 1 and result["backfill_runs"] == 2
    assert all(result[key] is not None for key, *_ in scale_benchmark.ROWS)
    assert "definitions load (total), s" in capsys.readouterr().out
