"""``retrain serve``'s drift report routes, in-process: the page the UI links, and nothing else from the disk."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from retrain_platform.serving import ServeConfig, build_service, create_app
from retrain_platform_tests.conftest import Platform, credit_frame
from retrain_platform_tests.serving.served import TEST_CONFIG, served
from retrain_platform_tests.training.seeded import LAST_SEEDED_DAY, SEEDED_MODEL, seeded_platforms

DAY = "2026-01-05"
PAGE = "<html><body>drift report of 2026-01-05</body></html>"
SECRET = "not for the network"


@contextlib.contextmanager
def reports_of(platform: Platform, config: ServeConfig = TEST_CONFIG) -> Iterator[TestClient]:
    """The app serving ``platform``'s model (no champion needed: reports do not depend on one)."""
    service = build_service({platform.spec.name: platform.spec}, platform.registry, platform.lake, config)
    with TestClient(create_app(service)) as client:
        yield client


def write_report(platform: Platform, day: str, text: str) -> None:
    path = platform.lake.report_path(platform.spec.name, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_report_is_answered_as_html_and_listed_newest_first(platform):
    model = platform.spec.name
    write_report(platform, DAY, PAGE)
    write_report(platform, "2026-01-04", "<html>earlier</html>")
    with reports_of(platform) as client:
        page = client.get(f"/reports/{model}/drift/{DAY}")
        index = client.get(f"/reports/{model}/drift")

    assert page.status_code == 200
    assert page.text == PAGE
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"  # re-running a partition rewrites its page
    assert index.status_code == 200
    assert index.json() == {
        "model": model,
        "reports": [
            {"partition": DAY, "url": f"/reports/{model}/drift/{DAY}"},
            {"partition": "2026-01-04", "url": f"/reports/{model}/drift/2026-01-04"},
        ],
    }


def test_absent_reports_and_unknown_models_are_404s_that_say_what_to_do(platform):
    model = platform.spec.name
    with reports_of(platform) as client:
        absent = client.get(f"/reports/{model}/drift/{DAY}")
        empty = client.get(f"/reports/{model}/drift")
        unknown = client.get(f"/reports/nope/drift/{DAY}")
        unknown_index = client.get("/reports/nope/drift")

    assert absent.status_code == 404
    assert absent.headers["content-type"] == "application/json"
    assert absent.json()["detail"] == (
        f"no drift report for {model} on {DAY}: the drift_report asset writes one per partition once the model "
        "has a champion, as drift.report.when allows (this spec: 'never'); "
        f"the days with one: /reports/{model}/drift"
    )
    assert empty.status_code == 200 and empty.json()["reports"] == []
    assert "drift.report.when" in empty.json()["detail"]
    for response in (unknown, unknown_index):
        assert response.status_code == 404
        assert response.json()["detail"] == f"no model 'nope' is served here; served: ['{model}']"


@pytest.mark.parametrize(
    "path",
    [
        "/reports/{model}/drift/..%2F..%2F..%2Fsecret",
        "/reports/{model}/drift/%2E%2E",
        "/reports/{model}/drift/..",
        "/reports/{model}/drift/2026-01-05%2F..%2F..%2F..%2F..%2Fsecret",
        "/reports/{model}/drift/2026-1-5",
        "/reports/{model}/drift/2026-02-30",
        "/reports/{model}/drift/2026-01-05.html",
        "/reports/..%2F{model}/drift/2026-01-05",
        "/reports/%2E%2E/drift/2026-01-05",
    ],
)
def test_anything_but_a_served_model_and_a_real_day_is_refused(platform, path):
    write_report(platform, DAY, PAGE)
    # Files the traversals above would reach if the route joined the URL into a path.
    (platform.lake.root_path / "secret").write_text(SECRET)
    (platform.lake.root_path / "secret.html").write_text(SECRET)
    with reports_of(platform) as client:
        response = client.get(path.format(model=platform.spec.name))
    assert response.status_code in (400, 404), response.text
    assert SECRET not in response.text and PAGE not in response.text
    if response.status_code == 400:
        assert response.json()["detail"].startswith("partition must be a day spelled YYYY-MM-DD")


def test_a_link_in_the_reports_folder_is_refused(platform, tmp_path):
    model = platform.spec.name
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "page.html").write_text(SECRET)
    write_report(platform, DAY, PAGE)
    folder = platform.lake.report_path(model, DAY).parent
    (folder / "2026-01-06.html").symlink_to(outside / "page.html")
    with reports_of(platform) as client:
        linked = client.get(f"/reports/{model}/drift/2026-01-06")
        index = client.get(f"/reports/{model}/drift")
    assert linked.status_code == 403
    assert linked.json()["detail"] == (
        f"refused to serve reports/{model}/drift/2026-01-06.html: "
        f"reports/{model}/drift/2026-01-06.html is a symbolic link; the lake never reads through one"
    )
    assert SECRET not in linked.text
    assert [r["partition"] for r in index.json()["reports"]] == [DAY]  # the link is not listed


def test_a_linked_reports_folder_is_refused(platform, tmp_path):
    model = platform.spec.name
    outside = tmp_path / "outside"
    (outside / "drift").mkdir(parents=True)
    (outside / "drift" / f"{DAY}.html").write_text(SECRET)
    (platform.lake.root_path / "reports").mkdir(parents=True)
    (platform.lake.root_path / "reports" / model).symlink_to(outside, target_is_directory=True)
    with reports_of(platform) as client:
        page = client.get(f"/reports/{model}/drift/{DAY}")
        index = client.get(f"/reports/{model}/drift")
    for response in (page, index):
        assert response.status_code == 403
        assert f"reports/{model} is a symbolic link or not a folder" in response.json()["detail"]
        assert SECRET not in response.text


@pytest.mark.parametrize(
    ("config", "served_here"),
    [
        (ServeConfig(), True),
        (ServeConfig(host="::1"), True),
        (ServeConfig(host="0.0.0.0"), False),
        (ServeConfig(host="0.0.0.0", reports=True), True),
        (ServeConfig(reports=False), False),
    ],
)
def test_reports_are_served_on_loopback_unless_told_otherwise(platform, config, served_here):
    assert config.serves_reports is served_here
    write_report(platform, DAY, PAGE)
    with reports_of(platform, config) as client:
        page = client.get(f"/reports/{platform.spec.name}/drift/{DAY}")
        index = client.get(f"/reports/{platform.spec.name}/drift")
    if served_here:
        assert page.status_code == 200 and page.text == PAGE
        return
    for response in (page, index):
        assert response.status_code == 404
        assert response.json()["detail"] == config.reports_refusal
        assert PAGE not in response.text
    assert ("--reports" if config.reports is None else "--no-reports") in config.reports_refusal


def test_the_link_the_drift_report_asset_records_opens_its_page(tmp_path, tmp_path_factory, monkeypatch):
    monkeypatch.delenv("RETRAIN_SERVE_URL", raising=False)
    with seeded_platforms(tmp_path, tmp_path_factory) as make:
        platform = make(drift={"share_threshold": 0.3, "report": {"when": "always", "sample_rows": 200}})
        day = LAST_SEEDED_DAY + dt.timedelta(days=1)
        platform.land(day, credit_frame(day))
        run = platform.ingest(day)
        [event] = [m for m in run.get_asset_materialization_events() if m.asset_key == platform.keys.drift_report]
        link = event.materialization.metadata["report"].value
        assert link.startswith(f"http://127.0.0.1:{ServeConfig().port}/")  # where retrain serve listens by default
        with served(platform) as client:
            page = client.get(urlsplit(link).path)
    assert page.status_code == 200
    assert page.content == platform.lake.report_path(SEEDED_MODEL, day.isoformat()).read_bytes()
    assert "Sampled drift report" in page.text and "Dataset drift threshold: 0.3" in page.text
