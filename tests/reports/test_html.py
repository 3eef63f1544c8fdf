"""The HTML reports, opened offline in headless Chromium, show their tables and every plot."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from broker.reports import job_report, worker_report
from broker.reports.html import job_report_html, worker_report_html, write_html
from broker.store.tables import Job

WORKER_PLOTS = ["accuracy-volume", "work-time", "daily-activity", "worker-confusion", "class-confusion"]


def _assert_self_contained(text: str) -> None:
    """No script and nothing fetched: every src/href is a fragment or inline data (heatmap pixels)."""
    import re

    assert "<script" not in text.lower()
    links = re.findall(r'(?:src|href)="([^"]*)"', text)
    assert links and all(link.startswith(("#", "data:image/png;base64,")) for link in links), links[:3]


def test_worker_report_html_renders_with_plots(fixed_job, page, tmp_path: Path):
    with Session(fixed_job.engine) as session:
        report = worker_report(session, [session.get(Job, fixed_job.job_id)])
    path = tmp_path / "workers.html"
    write_html(worker_report_html(report), path)
    _assert_self_contained(path.read_text())

    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    for plot in WORKER_PLOTS:
        figure = page.locator(f"#plot-{plot} svg")
        assert figure.count() == 1, plot
        box = figure.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100, plot
        assert page.locator(f"#plot-{plot} svg path").count() > 5, plot  # something is drawn in it
    cells = page.locator("table").first.locator("tr")
    assert cells.count() == 4  # header + 3 workers
    assert page.locator("tr.flagged").count() == 1  # the excluded spammer
    assert "ASPAMMER0003" in page.locator("tr.flagged").inner_text()
    assert "gold accuracy 0.00" in page.content()
    assert all(url.startswith("file://") for url in requests)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.screenshot(path=str(tmp_path / "workers.png"), full_page=True)
    assert (tmp_path / "workers.png").stat().st_size > 20_000
    _keep_screenshot(tmp_path / "workers.png")


def test_job_report_html_renders_with_plots(fixed_job, page, tmp_path: Path):
    with Session(fixed_job.engine) as session:
        report = job_report(session, session.get(Job, fixed_job.job_id))
    path = tmp_path / "job.html"
    write_html(job_report_html(report), path)
    _assert_self_contained(path.read_text())
    page.goto(path.as_uri())
    for plot in ("progress", "money"):
        box = page.locator(f"#plot-{plot} svg").bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100, plot
    text = page.inner_text("body")
    assert "cost per consolidated label" in text and "$0.5400" in text
    assert "measured accuracy on gold" in text and "100.0% (1 gold objects)" in text
    page.screenshot(path=str(tmp_path / "job.png"), full_page=True)
    _keep_screenshot(tmp_path / "job.png")


def _keep_screenshot(path: Path) -> None:
    """Copy the PNG where a person can look at it (REPORT_SCREENSHOTS=folder), else leave it in tmp."""
    import os
    import shutil

    folder = os.environ.get("REPORT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)
