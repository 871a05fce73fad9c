"""``retrain backtest``: the spec's policy through the real platform, next to fixed schedules, on daily files."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from retrain_platform.backtest import BacktestInputError, daily_files, format_table, run_backtest, write_plot
from retrain_platform.backtest.baselines import FeatureCache, run_schedule
from retrain_platform.backtest.result import BacktestDay, PolicyResult, policy_gain
from retrain_platform.cli import main
from retrain_platform.spec.estimator import model_input
from retrain_platform.storage.lake import Lake
from retrain_platform.training.fit import fit_model
from retrain_platform_tests.conftest import START, credit_frame, make_spec

DAYS = 9
SHIFT_FROM = 5  # the relation between debt and default changes on day 5


def _write_days(folder, days=DAYS, fmt="csv"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(days):
        day = START + dt.timedelta(days=i)
        frame = credit_frame(day, rows=250, shift=1.0 if i >= SHIFT_FROM else 0.0)
        path = folder / f"{day.isoformat()}.{fmt}"
        frame.to_csv(path, index=False) if fmt == "csv" else frame.to_parquet(path, index=False)
    return folder


def _spec():
    return make_spec(
        training={"window_days": 3, "min_partitions": 2, "min_rows": 200, "holdout_fraction": 0.3},
        triggers={"drift": True, "performance_floor": 0.6},
    )


def test_daily_files_reads_only_dated_files_in_one_format(tmp_path):
    folder = _write_days(tmp_path / "data", days=3)
    (folder / "README.md").write_text("not a day")
    (folder / ".2026-03-09.csv.partial").write_text("half a file")
    assert [f.day.isoformat() for f in daily_files(folder)] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert [f.day for f in daily_files(folder, start=START + dt.timedelta(days=1), end=START + dt.timedelta(1))] == [
        START + dt.timedelta(days=1)
    ]

    with pytest.raises(BacktestInputError, match="is not a folder"):
        daily_files(tmp_path / "missing")
    with pytest.raises(BacktestInputError, match="no daily files in .* between 2027-01-01"):
        daily_files(folder, start=dt.date(2027, 1, 1))
    (folder / "2026-03-04.parquet").write_bytes(b"")
    with pytest.raises(BacktestInputError, match="mixes csv and parquet files; convert them to one format"):
        daily_files(folder)
    (folder / "2026-03-04.parquet").unlink()
    (folder / "2026-02-30.csv").write_text("")
    with pytest.raises(BacktestInputError, match="2026-02-30.csv is not a calendar date"):
        daily_files(folder)


@pytest.mark.slow
def test_backtest_replays_the_platform_and_compares_it_with_schedules(tmp_path):
    data = _write_days(tmp_path / "data")
    spec = _spec()
    home = tmp_path / "home"
    result = run_backtest(spec, data, schedules=[None, 2], home=home, echo=lambda _: None)
    report = result.to_json()

    assert report["policy"] == "spec policy"
    assert [d["day"] for d in report["days"]] == [(START + dt.timedelta(days=i)).isoformat() for i in range(DAYS)]
    assert set(report["days"][0]) >= {"day", "metric", "champion_version", "retrained", "reason", "decision"}
    # no champion on day 0; from the first promotion on, every day is scored by the champion of that morning
    assert report["days"][0]["metric"] is None
    scored = [d for d in report["days"] if d["metric"] is not None]
    assert scored and all(0.0 <= d["metric"] <= 1.0 for d in scored)

    # the policy's fits and promotions are what its registry holds
    from retrain_platform.backtest.policy import throwaway_resources

    registry = throwaway_resources(home)["registry"]
    versions = registry.versions(spec.name)
    assert report["fits"] == len(versions) == sum(d["retrained"] for d in report["days"])
    promoted = [v for v in versions if v.tags.get("champion.promoted_at")]
    assert report["promotions"] == len(promoted) >= 1
    for day in report["days"]:
        if day["metric"] is not None:
            assert day["champion_version"] in {v.version for v in promoted}

    never, every_two = report["baselines"]
    assert (never["policy"], every_two["policy"]) == ("never retrain", "refit every 2 days")
    # the first model needs min_partitions (2) valid days: fit on day 1, then (every 2 days) on days 3, 5, 7
    assert never["fits"] == 1 and every_two["fits"] == 4
    assert [d["day"] for d in every_two["days"] if d["retrained"]] == [
        (START + dt.timedelta(days=i)).isoformat() for i in (1, 3, 5, 7)
    ]
    # every mean is over the same days: those on which each policy had a champion
    assert report["compared_days"] == len(result.common_days()) > 0
    for entry in [report, never, every_two]:
        values = [d["metric"] for d in entry["days"] if d["day"] in result.common_days()]
        assert entry["mean_metric"] == pytest.approx(np.mean(values))

    outcomes = report["promotion_outcomes"]
    assert outcomes["evaluated"] <= report["promotions"] - 1  # the first model replaces nothing
    table = format_table(result)
    assert "spec policy" in table and "refit every 2 days" in table and "never retrain" in table
    json.dumps(report)  # JSON-ready

    write_plot(result, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_schedule_scores_the_model_of_that_morning_before_refitting(tmp_path):
    spec = make_spec(training={"window_days": 2, "min_partitions": 1, "min_rows": 200, "holdout_fraction": 0.3})
    lake = Lake(root=str(tmp_path))
    days = [START + dt.timedelta(days=i) for i in range(5)]
    for i, day in enumerate(days):
        if i == 2:
            continue  # a quarantined (or missing) day: no features, never trained on or scored
        frame = credit_frame(day, shift=0.5 * i).astype({"defaulted": "Int64", "age": "Int64"})
        lake.write_features(spec.name, day.isoformat(), frame, raw_sha256="0" * 64)

    result = run_schedule(spec, FeatureCache(lake, spec.name), days, every=2)
    rows = {d.day: d for d in result.days}
    assert [d.day for d in result.days if d.retrained] == [days[0].isoformat(), days[3].isoformat()]
    assert rows[days[2].isoformat()].metric is None and not rows[days[2].isoformat()].retrained
    # day 3 is scored by the day-0 model, before the refit of day 3 (on days 3 and the missing 2: day 3 only)
    first = fit_model(spec, lake.read_features(spec.name, [days[0].isoformat()]))
    day3 = lake.read_features(spec.name, [days[3].isoformat()])
    expected = roc_auc_score(day3["defaulted"], first.predict_proba(model_input(day3, spec))[:, 1])
    assert rows[days[3].isoformat()].metric == pytest.approx(expected)
    second = fit_model(spec, day3)
    day4 = lake.read_features(spec.name, [days[4].isoformat()])
    expected = roc_auc_score(day4["defaulted"], second.predict_proba(model_input(day4, spec))[:, 1])
    assert rows[days[4].isoformat()].metric == pytest.approx(expected)
    assert result.fits == result.promotions == 2


def test_cli_refuses_a_bad_folder_and_a_bad_schedule(tmp_path, capsys):
    spec_file = tmp_path / "spec.yaml"
    import yaml

    from retrain_platform_tests.conftest import spec_dict

    spec_file.write_text(yaml.safe_dump(spec_dict("credit_cli")))
    assert main(["backtest", str(spec_file), str(tmp_path / "nowhere")]) == 1
    assert "backtest refused:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["backtest", str(spec_file), str(tmp_path), "--schedules", "weekly"])
    assert "'weekly' is not a schedule; use 'never' or a number of days" in capsys.readouterr().err


def test_a_scheduled_retrain_in_a_replay_is_recorded_as_the_schedule_not_a_manual_launch(tmp_path):
    # the replay tags the runs automation requests as the daemon does; training reads that tag to name a cron
    # retrain (before, every replayed cron retrain said "manual launch")
    spec = make_spec(
        training={"window_days": 3, "min_partitions": 2, "min_rows": 200, "holdout_fraction": 0.3},
        triggers={"drift": False, "cron": "0 4 * * 1", "max_model_age_days": None},
    )
    result = run_backtest(spec, _write_days(tmp_path / "data"), schedules=[], home=tmp_path / "home", echo=print)
    retrains = [d.reason for d in result.policy.days if d.retrained]
    assert retrains[0].startswith("volume: retrain due: no model trained yet")
    assert retrains[1:] and all(reason.startswith("schedule (0 4 * * 1)") for reason in retrains[1:]), retrains


def _policy(name, metrics):
    days = [BacktestDay(day=str(START + dt.timedelta(days=i)), metric=m) for i, m in enumerate(metrics)]
    return PolicyResult(name, days, fits=1, promotions=0, wall_seconds=0.0)


def test_the_gain_over_a_baseline_is_a_batch_means_interval_signed_by_the_metrics_direction():
    rng = np.random.default_rng(0)
    base = rng.normal(0.7, 0.03, 70)
    better = base + 0.01 + rng.normal(0, 0.002, 70)
    over = {str(START + dt.timedelta(days=i)) for i in range(70)}
    gain = policy_gain(_policy("spec", better), _policy("weekly", base), over, greater_is_better=True)
    weekly = (better - base).reshape(10, 7).mean(axis=1)
    low, high = stats.t.interval(0.95, 9, loc=weekly.mean(), scale=stats.sem(weekly))
    assert gain.blocks == 10 and gain.mean == pytest.approx((better - base).mean())
    assert (gain.low, gain.high) == (pytest.approx(low), pytest.approx(high)) and gain.significant
    # For an error metric the same numbers mean the spec's policy did worse.
    worse = policy_gain(_policy("spec", better), _policy("weekly", base), over, greater_is_better=False)
    assert worse.mean == pytest.approx(-gain.mean) and worse.high < 0
    # Two policies that differ by noise only: the interval covers zero.
    noise = policy_gain(_policy("spec", base + rng.normal(0, 0.01, 70)), _policy("w", base), over, True)
    assert not noise.significant and noise.describe().count("[") == 1
