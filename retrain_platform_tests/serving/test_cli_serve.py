"""``retrain serve``'s refusals, which happen before anything is loaded or bound."""

from __future__ import annotations

from retrain_platform.cli import build_parser, main


def test_an_unknown_model_is_refused_with_the_known_ones(monkeypatch, capsys):
    monkeypatch.delenv("RETRAIN_SPECS", raising=False)  # the bundled examples
    assert main(["serve", "churn", "nope"]) == 2
    assert capsys.readouterr().err.strip() == "unknown model(s) ['nope']; known: churn, sales (RETRAIN_SPECS)"


def test_a_bad_option_names_the_flag(monkeypatch, capsys):
    monkeypatch.delenv("RETRAIN_SPECS", raising=False)
    assert main(["serve", "--poll-seconds", "0"]) == 1
    assert capsys.readouterr().err.strip() == "serve refused: --poll-seconds: Input should be greater than 0"
    assert main(["serve", "--log-flush-rows", "5", "--log-capacity-rows", "4"]) == 1
    assert capsys.readouterr().err.startswith(
        "serve refused: options: log_capacity_rows (4) is below log_flush_rows (5): the buffer would drop records"
    )


def test_reports_follow_the_host_unless_the_flag_says_otherwise():
    def parsed(*flags):
        return build_parser().parse_args(["serve", *flags]).reports

    assert parsed() is None  # ServeConfig decides: loopback only
    assert parsed("--reports") is True
    assert parsed("--no-reports") is False
