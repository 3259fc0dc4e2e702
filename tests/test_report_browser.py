"""report.html in a real browser (headless Chromium), at 1400 and 800 px wide: the demo, a not-identified
audit and one with few covariates, each estimated here from shipped tables. Each page is screenshot; each
element the report promises is found on it; no two pieces of text are drawn over each other; figures are
scaled so their tick labels stay legible; a corpus string carrying a script stays text.

Boxes come from the page itself without running a script in the report: a COPY of the page, its
Content-Security-Policy dropped, gets a test-only script that writes the box of every text run and image into
the DOM, which ``--dump-dom`` returns. Skipped where Chromium is not installed."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llm_audit.estimate.results import Estimates
from llm_audit.estimate.zero_run import estimate
from llm_audit.report import write_report
from llm_audit.report.plots import DPI, TICK_PT
from llm_audit.simulate_cutoff import simulate_dated
from report_fixtures import REFUTERS, SCRIPT, zero_run_estimates

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
DEMO = Path(__file__).parent / "data" / "demo_small"
WIDTHS = (1400, 800)
MIN_TICK_PX = 8.0  # a tick label drawn smaller than this on the page is not legible

# Writes {texts: [[node, x0, y0, x1, y1, in_scroll_box, text]], images: [[id, x0, y0, x1, y1, natural_w]],
# width} into <pre id="layout-boxes">, once everything (images included) has loaded.
BOX_SCRIPT = """<script>
window.addEventListener('load', function () {
  var out = {texts: [], images: [], width: document.documentElement.clientWidth};
  var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT), node, k = 0;
  while ((node = walker.nextNode())) {
    var el = node.parentElement, closed = el.closest('details:not([open])');
    if (!node.textContent.trim() || (closed && !el.closest('summary'))) continue;  // not shown
    var range = document.createRange(); range.selectNodeContents(node);
    var rects = range.getClientRects(), scroll = !!node.parentElement.closest('.scroll');
    for (var i = 0; i < rects.length; i++) {
      var r = rects[i];
      if (r.width > 0 && r.height > 0) out.texts.push([k, r.left + scrollX, r.top + scrollY, r.right + scrollX,
                                                       r.bottom + scrollY, scroll, node.textContent.slice(0, 60)]);
    }
    k++;
  }
  for (var j = 0; j < document.images.length; j++) {
    var im = document.images[j], b = im.getBoundingClientRect();
    out.images.push([im.id, b.left + scrollX, b.top + scrollY, b.right + scrollX, b.bottom + scrollY, im.naturalWidth]);
  }
  var pre = document.createElement('pre'); pre.id = 'layout-boxes'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=180)


def render(page: Path, width: int, out: Path) -> tuple[str, dict, Path]:
    """Screenshot ``page`` at ``width`` and return (the DOM of its instrumented copy, the boxes, the PNG)."""
    copy = out / f"{page.parent.name}-{width}.html"
    text = page.read_text()
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text)  # the test copy may run a script
    copy.write_text(text.replace("</body>", BOX_SCRIPT + "</body>"))
    png = out / f"{page.parent.name}-{width}.png"
    dom = _chromium(out, f"--window-size={width},10000", "--virtual-time-budget=10000", f"--screenshot={png}",
                    "--dump-dom", copy.as_uri()).stdout
    found = re.search(r'<pre id="layout-boxes">(.*?)</pre>', dom, re.S)
    assert found, f"{copy.name}: the box script did not run"
    return dom, json.loads(html.unescape(found.group(1))), png


def overlapping_text(boxes: dict, tolerance: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of text runs from different text nodes whose boxes intersect by more than ``tolerance`` px each way,
    and text runs that cross an image."""
    t = np.array([b[:5] for b in boxes["texts"]], dtype=float)
    labels = [b[6] for b in boxes["texts"]]
    bad = []
    w = np.minimum(t[:, None, 3], t[None, :, 3]) - np.maximum(t[:, None, 1], t[None, :, 1])
    h = np.minimum(t[:, None, 4], t[None, :, 4]) - np.maximum(t[:, None, 2], t[None, :, 2])
    hit = (w > tolerance) & (h > tolerance) & (t[:, None, 0] != t[None, :, 0])
    for i, j in zip(*np.nonzero(np.triu(hit))):
        bad.append((labels[i], labels[j]))
    for img in boxes["images"]:
        x0, y0, x1, y1 = img[1:5]
        w = np.minimum(t[:, 3], x1) - np.maximum(t[:, 1], x0)
        h = np.minimum(t[:, 4], y1) - np.maximum(t[:, 2], y0)
        bad += [(labels[i], f"image {img[0]}") for i in np.flatnonzero((w > tolerance) & (h > tolerance))]
    return bad


def check_page(page: Path, out: Path, expect: dict[str, str | None]) -> None:
    """``expect``: element id -> a text it must contain (None: only that it is there and visible)."""
    for width in WIDTHS:
        dom, boxes, png = render(page, width, out)
        from PIL import Image

        pixels = np.asarray(Image.open(png).convert("L"), dtype=float)
        assert pixels.shape[1] == width and pixels.std() > 20  # a screenshot, not a blank page
        for ident, text in expect.items():
            assert re.search(rf'<\w+[^>]*\bid="{ident}"', dom), f"{page.parent.name} at {width}px: no element #{ident}"
            if text is not None:
                element = re.search(rf'<(\w+)[^>]*\bid="{ident}"[^>]*>(.*?)</\1>', dom, re.S)
                content = html.unescape(re.sub(r"<[^>]+>", "", element.group(2)))
                assert text in content, f"{page.parent.name} at {width}px: #{ident} lacks {text!r}"
        assert overlapping_text(boxes) == [], f"{page.parent.name} at {width}px: text drawn over text"
        # running text stays inside the window; only tables may scroll sideways, inside their own box
        outside = [b[6] for b in boxes["texts"] if not b[5] and b[3] > boxes["width"] + 1]
        assert outside == [], f"{page.parent.name} at {width}px: text beyond the window's right edge"
        for ident, x0, _, x1, _, natural in boxes["images"]:
            if ident in ("roc", "distributions", "balance"):
                assert TICK_PT * DPI / 72 * (x1 - x0) / natural >= MIN_TICK_PX, f"#{ident} at {width}px: ticks too small"
        assert "/root/" not in dom and "/home/" not in dom and "/tmp/" not in dom  # no local path


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """The three audits the issue names, estimated from shipped tables and reported."""
    root = tmp_path_factory.mktemp("reports")
    scores = pd.read_parquet(DEMO / "scores.parquet")
    covs = pd.read_parquet(DEMO / "covariates.parquet")
    demo = estimate(scores, covs, n_bootstrap=100).to_dict()
    demo["diagnostics"]["refuters"] = REFUTERS  # the refuter table as the verdict work will fill it
    write_report(Estimates(demo), root / "demo", title="llm-audit: demo-small")
    few = estimate(scores, covs[["id", "n_chars", "date", "date_missing", "domain"]], n_bootstrap=100)
    write_report(few, root / "few-covariates", title="llm-audit: demo-small, three covariates")
    d = simulate_dated(400, seed=1)  # members dated before 2010, non-members after: no overlap on the date
    ids = [f"t{i}" for i in range(len(d))]
    dated = pd.DataFrame({"id": ids, "member": d["member"], "loss": d["score"],
                          "zlib": d["score"] + np.random.default_rng(0).normal(size=len(d))})
    dated.attrs["model"] = {"name": "HuggingFaceTB/SmolLM2-135M", "revision": "main", "dtype": "bfloat16",
                            "weights_sha256": "5af571cbf074e6d21a03528d2330792e532ca608f24ac70a143f6b369968ab8c",
                            "tokenizer_sha256": "0", "id": "91e6b9f2c1a04d77"}
    write_report(estimate(dated, pd.DataFrame({"id": ids, "date": d["date"], "length": d["length"]}), n_bootstrap=100),
                 root / "not-identified", title=f"llm-audit: dated corpus {SCRIPT}")
    return root


COMMON = {"verdict": None, "lead": None, "headline": "AUC vs 0.5", "definitions": "mean memorization",
          "distributions": None, "roc": None, "propensity": None, "estimates": None, "model": "model id"}


def test_the_demo_page(reports, tmp_path):
    check_page(reports / "demo" / "report.html", tmp_path, {
        **COMMON, "lead": "Corrected for the covariates", "refuters": "subset stability", "balance": None,
        "familywise": "4 scores are tested at once", "slices": "2016 or later",
        "definitions": "mink_0.2: nats per token", "model": "model-confounded (local folder)"})
    page = (reports / "demo" / "report.html").read_text()
    assert "TPR@0.1% is not shown: with 103 non-members" in page  # 0.1% of 103 texts is less than one text
    assert "advantage" in page and "one score: p" in page


def test_the_not_identified_page(reports, tmp_path):
    check_page(reports / "not-identified" / "report.html", tmp_path, {
        **COMMON, "lead": "What can be said: ", "headline": "identified set, all texts", "slices": "one arm only",
        "model": "HuggingFaceTB/SmolLM2-135M"})
    page = (reports / "not-identified" / "report.html").read_text()
    lead = html.unescape(re.search(r'id="lead"[^>]*>(.*?)</p>', page, re.S).group(1))
    assert "at the data cutoff" in lead and "identified set" in lead and lead.endswith("is not identified (blind-"
                                                                                      "baseline AUC 1.000 >= 0.97: "
                                                                                      "members are (nearly) separable "
                                                                                      "from the covariates).")
    assert "membership is the date" in page
    assert "<script" not in page.lower() and "dated corpus &lt;script&gt;" in page


def test_the_few_covariates_page(reports, tmp_path):
    check_page(reports / "few-covariates" / "report.html", tmp_path, {**COMMON, "balance": None})


def test_hand_built_pages_at_both_widths(tmp_path):
    """The same checks on hand-built estimates (no estimator run): a not-identified audit with refuters."""
    est = zero_run_estimates(("loss", "mink_0.2", "zlib"), verdict="not_identified", nonmembers=328, refuters=True)
    write_report(est, tmp_path / "fixture", title=f"audit {SCRIPT}")
    check_page(tmp_path / "fixture" / "report.html", tmp_path, {
        "verdict": "not identified", "refuters": "FAIL", "lead": "What can be said: on the 412 texts",
        "headline": "identified set, all texts", "definitions": "zlib: nats per token per byte", "slices": None,
        "distributions": None, "roc": None, "balance": None, "estimates": "DR, overlap population"})


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    write_report(zero_run_estimates(), out, title=f"audit {SCRIPT}", meta={"corpus id": SCRIPT})
    return out / "report.html"


def test_dom_shows_headline_and_keeps_script_inert(page, tmp_path):
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert '<table class="headline">' in dom
    assert "naive AUC" in dom and "DR AUC" in dom and ">loss<" in dom
    # Had the injected script run, it would have set the title to PWNED.
    title = dom.split("<title>", 1)[1].split("</title>", 1)[0]
    assert title.startswith("audit &lt;script&gt;") and title != "PWNED"
    assert "&lt;script&gt;document.title" in dom
