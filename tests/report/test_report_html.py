"""report.html opens in headless Chromium, offline, without console errors, and shows the front."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from autopeft.report.build import build_report
from tests.helpers.fake_run import write_run

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed (apt-get install -y chromium)"
)


def test_report_html_in_headless_chromium(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    run_dir = write_run(tmp_path / "run", n=30, search_style=True)
    html = build_report(run_dir)["html"]
    front = pd.read_csv(run_dir / "front.csv")
    errors: list[str] = []
    remote: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: r.url.startswith(("file:", "data:", "blob:")) or remote.append(r.url))
        page.goto(html.as_uri())
        page.wait_for_selector("#pareto .scatterlayer .trace", timeout=30_000)
        traces = page.evaluate(
            "() => document.getElementById('pareto').data.map(t => ({name: t.name, x: Array.from(t.x || []),"
            " y: Array.from(t.y || [])}))"
        )
        table_trials = page.eval_on_selector_all("#front-table tbody tr td:first-child",
                                                 "cells => cells.map(c => c.textContent)")
        text = page.inner_text("body")
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert errors == []
    assert remote == []  # self-contained: nothing fetched from the network
    plotted = next(t for t in traces if t["name"] == "Pareto front")
    got = sorted(zip(plotted["x"], plotted["y"], strict=True))
    want = sorted(zip(front["peft_pct"], front["score"], strict=True))
    assert [x for x, _ in got] == pytest.approx([x for x, _ in want])
    assert [y for _, y in got] == pytest.approx([y for _, y in want])
    assert sorted(table_trials) == sorted(front["trial"].astype(str))
    assert "Pareto front" in text and "Hand-designed baselines" in text and "lora@r8" in text
    image = _png_pixels(shot)
    assert image.shape[0] > 900 and image.std() > 10  # a full page, not a blank one


def _png_pixels(path: Path):
    from matplotlib.image import imread

    return (imread(path)[..., :3] * 255).astype("float32")
