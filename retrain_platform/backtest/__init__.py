"""Policy backtests: replay real daily data through the platform and compare it with fixed schedules."""

from retrain_platform.backtest.data import BacktestInputError, daily_files
from retrain_platform.backtest.report import format_table, write_json, write_plot
from retrain_platform.backtest.result import BacktestDay, BacktestResult, PolicyResult, PromotionOutcome
from retrain_platform.backtest.run import DEFAULT_SCHEDULES, run_backtest

__all__ = [
    "DEFAULT_SCHEDULES",
    "BacktestDay",
    "BacktestInputError",
    "BacktestResult",
    "PolicyResult",
    "PromotionOutcome",
    "daily_files",
    "format_table",
    "run_backtest",
    "write_json",
    "write_plot",
]
