"""The report's figures: no two pieces of text drawn over each other (boxes measured by matplotlib's renderer),
legends clear of the axis labels whatever the number of rows, AUC in the ROC legends, no curve below the log
axes' floor; and the units each attack's score is printed in."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.text import Text

from llm_audit.report import plots
from llm_audit.scoring.attacks import ATTACKS, score_units
from report_fixtures import distributions


def text_boxes(fig):
    """(text, bbox in pixels) of every visible, non-empty text of the figure, as it would be saved."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    out = []
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip() and t.get_figure() is not None:
            out.append((t.get_text(), t.get_window_extent(renderer)))
    return out


def overlapping(fig, tolerance: float = 1.0):
    """Pairs of texts whose boxes intersect by more than ``tolerance`` pixels each way."""
    boxes = text_boxes(fig)
    bad = []
    for (ta, a), (tb, b) in itertools.combinations(boxes, 2):
        w = min(a.x1, b.x1) - max(a.x0, b.x0)
        h = min(a.y1, b.y1) - max(a.y0, b.y0)
        if w > tolerance and h > tolerance:
            bad.append((ta, tb))
    return bad


@pytest.mark.parametrize("n_rows", [1, 3, 9, 25])
def test_balance_plot_keeps_its_legend_clear_of_the_axis_label(n_rows):
    rng = np.random.default_rng(n_rows)
    rows = [(f"covariate_{i}", float(rng.uniform(-0.6, 0.6)), float(rng.uniform(-0.2, 0.2))) for i in range(n_rows)]
    fig = plots.draw_balance(rows)
    assert overlapping(fig) == []
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(renderer)
    xlabel = ax.xaxis.label.get_window_extent(renderer)
    assert legend.y0 >= ax.get_window_extent(renderer).y1 - 1  # above the axes, so never over the x label
    assert xlabel.y1 < legend.y0
    plt.close(fig)


def test_roc_legends_carry_the_auc_and_curves_stay_on_the_axes():
    fpr = np.r_[0.0, np.linspace(0.002, 1, 60)]
    tpr = np.r_[0.0, 1e-6, np.sqrt(np.linspace(0.002, 1, 59))]  # a weighted curve whose TPR is ~0 at first
    curves = {name: {"naive": (fpr.tolist(), np.sqrt(fpr).tolist()), "dr": (fpr.tolist(), tpr.tolist())}
              for name in ("loss", "zlib", "mink_0.2")}
    legend = {name: {"naive": "naive: AUC 0.712", "dr": "DR: AUC 0.655"} for name in curves}
    fig = plots.draw_roc(curves, legend)
    assert overlapping(fig) == []
    for ax in fig.axes[:3]:
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["naive: AUC 0.712", "DR: AUC 0.655"]
        for line in ax.get_lines():
            assert min(line.get_ydata()) >= plots.ROC_FLOOR and min(line.get_xdata()) >= plots.ROC_FLOOR
        assert all(t.get_fontsize() >= plots.TICK_PT for t in ax.get_xticklabels() + ax.get_yticklabels())
    plt.close(fig)


def test_score_distributions_draw_both_arms_naive_and_weighted():
    dist = distributions(["loss", "mink_0.2", "zlib"])
    fig = plots.draw_distributions(dist, {"loss": score_units("loss")})
    assert overlapping(fig) == []
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["members, as observed", "members, weighted", "non-members, as observed", "non-members, weighted"]
    assert fig.axes[0].get_xlabel() == "score, nats per token"
    plt.close(fig)
    for e in dist.values():
        e["weighted"] = None
    fig = plots.draw_distributions(dist)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["members, as observed", "non-members, as observed"]
    plt.close(fig)


def test_every_attack_names_the_units_of_its_score():
    for name, attack in ATTACKS.items():
        assert attack.units, f"attack {name!r} has no units"
    assert score_units("mink_0.2") == ATTACKS["mink"].units and score_units("loss") == ATTACKS["loss"].units
    assert score_units("zlib_0.2") is None and score_units("my_score") is None  # zlib takes no k
