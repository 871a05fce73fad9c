"""The demo's timeline output: the table it prints and the JSON it writes (the replay itself runs in test_cli)."""

from __future__ import annotations

import json

from retrain_platform.demo.replay import DemoResult, format_timeline, write_json
from retrain_platform.orchestration.replay import DayRow


def _result() -> DemoResult:
    churn = [
        DayRow(day="2026-01-07", rows=1089, validation="ok"),
        DayRow(
            day="2026-01-08",
            rows=1090,
            validation="ok",
            drift_share=0.429,
            champion_metric=0.7301,
            champion_version="1",
            retrain_reason="drift: 43% of columns drifted",
            candidate_version="2",
            gate="promoted",
            gate_reason="gain +0.0208 in roc_auc",
        ),
        DayRow(day="2026-01-09", validation="quarantined", notes=["corrupted file landed"]),
    ]
    return DemoResult(home="/tmp/home", days=3, timeline={"churn": churn, "sales": []})


def test_timeline_table_has_one_line_per_day_with_what_happened():
    text = format_timeline(_result())
    lines = text.splitlines()
    assert "== churn ==" in lines and "== sales ==" in lines
    [promoted] = [line for line in lines if line.startswith("2026-01-08")]
    assert "1090" in promoted and "0.43" in promoted and "v1 0.730" in promoted
    assert "v2 drift" in promoted  # the retrain and its reason's first word
    assert promoted.endswith("promoted (gain +0.0208 in roc_auc)")
    [quarantined] = [line for line in lines if line.startswith("2026-01-09")]
    assert "quarantined" in quarantined
    [quiet] = [line for line in lines if line.startswith("2026-01-07")]
    assert quiet.split()[:3] == ["2026-01-07", "1089", "ok"]


def test_timeline_json_round_trips(tmp_path):
    path = tmp_path / "nested" / "timeline.json"
    write_json(_result(), path)
    data = json.loads(path.read_text())
    assert data["home"] == "/tmp/home" and data["days"] == 3
    assert [r["day"] for r in data["timeline"]["churn"]] == ["2026-01-07", "2026-01-08", "2026-01-09"]
    assert data["timeline"]["churn"][1]["gate"] == "promoted"
    assert data["timeline"]["churn"][2]["notes"] == ["corrupted file landed"]
    assert data["timeline"]["sales"] == []
