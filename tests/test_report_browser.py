"""report.html in a real browser (headless Chromium): it renders, shows the headline table, and a corpus
string carrying a script stays text. Skipped where Chromium is not installed."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from llm_audit.report import write_report
from report_fixtures import SCRIPT, zero_run_estimates

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    write_report(zero_run_estimates(), out, title=f"audit {SCRIPT}",
                 meta={"corpus id": SCRIPT})
    return out / "report.html"


def test_screenshot_is_not_blank(page, tmp_path):
    from PIL import Image

    png = tmp_path / "shot.png"
    _chromium(tmp_path, f"--screenshot={png}", "--window-size=1280,2000", page.as_uri())
    assert png.is_file() and png.stat().st_size > 10_000
    pixels = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert pixels.shape == (2000, 1280)
    assert pixels.std() > 20  # a blank or single-colour page has (almost) none
    # Dark pixels (text, plot lines) in the top, middle and bottom thirds: the page is filled, not cut short.
    for third in np.array_split(pixels, 3):
        assert (third < 100).mean() > 0.002


def test_dom_shows_headline_and_keeps_script_inert(page, tmp_path):
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert '<table class="headline">' in dom
    assert "naive AUC" in dom and "DR AUC" in dom and ">loss<" in dom
    # Had the injected script run, it would have set the title to PWNED.
    title = dom.split("<title>", 1)[1].split("</title>", 1)[0]
    assert title.startswith("audit &lt;script&gt;") and title != "PWNED"
    assert "&lt;script&gt;document.title" in dom
