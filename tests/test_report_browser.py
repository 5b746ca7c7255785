"""The report of a real scoring run, opened in headless Chromium with no network."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from rollscore.pipeline.report import write_report
from rollscore.pipeline.run import score_rollouts

pytestmark = pytest.mark.slow  # a real scoring run, then a browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[1]


def require_browser() -> None:
    """Skip without Chromium and Playwright, unless ROLLSCORE_REQUIRE_BROWSER=1 demands them."""
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "playwright is not installed (pip install playwright)"
    if reason is None:
        return
    if os.environ.get("ROLLSCORE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"ROLLSCORE_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def expected_images(scores: Path) -> int:
    """Two overview charts, then per data source the combined reward, each component with
    values there, and the length chart when the source has lengths."""
    rows = pd.read_parquet(scores)
    rows["data_source"] = rows["data_source"].fillna("(none)")
    components = [name for name in rows.columns if name.startswith("reward_")]
    images = 2
    for _, group in rows.groupby("data_source"):
        images += 1 + sum(group[name].notna().any() for name in components)
        images += int(group["generation_length"].notna().any())
    return images


def test_the_report_of_a_scoring_run_renders_in_chromium(tmp_path, client):
    require_browser()
    from playwright.sync_api import sync_playwright

    outdir = tmp_path / "scored"
    score_rollouts(
        [str(REPO / "examples" / "rollouts.jsonl")],
        str(REPO / "examples" / "config.yaml"),
        str(outdir),
        client=client,
    )
    report = Path(write_report(str(outdir), client=client))
    assert report == outdir / "report.html"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            errors: list[str] = []
            requests: list[str] = []
            page.on("console", lambda line: line.type == "error" and errors.append(line.text))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(report.as_uri(), wait_until="load")
            widths = page.evaluate(
                "Promise.all([...document.images].map("
                "image => image.decode().then(() => image.naturalWidth, () => 0)))"
            )
            title = page.title()
            headings = page.locator("h2").all_inner_texts()
            screenshot = page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()

    assert errors == []
    assert screenshot.startswith(b"\x89PNG")
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert len(widths) == expected_images(outdir / "scores")
    assert all(width == 600 for width in widths), widths
    assert title == f"rollscore report: {outdir}"
    assert headings[0] == "By data source" and headings[-1] == "Errors"
    assert "Data source: math" in headings
