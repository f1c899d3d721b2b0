"""sweep.plot()'s figure and the live table's best-so-far line (widgets/charts.py)."""

from __future__ import annotations

import re

import pytest

from caliban_jupyter.widgets.charts import best_so_far, best_so_far_svg, plot

ROWS = [
    {"lr": 0.001, "opt": "adam", "loss": 0.9, "state": "SUCCEEDED"},
    {"lr": 0.01, "opt": "sgd", "loss": 0.4, "state": "SUCCEEDED"},
    {"lr": 0.1, "opt": "adam", "loss": None, "state": "FAILED"},
    {"lr": 0.3, "opt": "sgd", "loss": 0.6, "state": "SUCCEEDED"},
]


def test_best_so_far_follows_the_goal():
    assert best_so_far([3, None, 1, 2], maximize=False) == [3, 3, 1, 1]
    assert best_so_far([None, 1, 3, 2], maximize=True) == [None, 1, 3, 3]


def test_plot_draws_one_panel_per_parameter_and_the_best_so_far():
    pytest.importorskip("matplotlib")
    fig = plot(ROWS, "loss", ["lr", "opt"], maximize=False, title="study")
    lr_ax, opt_ax, best_ax = [ax for ax in fig.axes if ax.get_visible()]
    assert (lr_ax.get_xlabel(), opt_ax.get_xlabel(), best_ax.get_xlabel()) == ("lr", "opt",
                                                                               "trial")
    # The failed row has no loss: 3 points; lr spans 300x so its axis is logarithmic.
    assert lr_ax.collections[0].get_offsets().tolist() == [[0.001, 0.9], [0.01, 0.4],
                                                            [0.3, 0.6]]
    assert lr_ax.get_xscale() == "log"
    # The best (lowest) loss is starred on every parameter panel.
    assert lr_ax.collections[1].get_offsets().tolist() == [[0.01, 0.4]]
    assert [t.get_text() for t in opt_ax.get_xticklabels()] == ["adam", "sgd"]
    [line] = best_ax.get_lines()
    assert list(line.get_ydata()) == [0.9, 0.4, 0.4]


def test_plot_without_a_goal_has_no_best_panel_and_needs_a_value():
    pytest.importorskip("matplotlib")
    fig = plot(ROWS, "loss", ["lr"])
    assert [ax.get_xlabel() for ax in fig.axes if ax.get_visible()] == ["lr"]
    with pytest.raises(ValueError, match="no row has a numeric 'accuracy'"):
        plot(ROWS, "accuracy", ["lr"])


def test_svg_line_has_a_dot_per_value_and_a_step_path():
    svg = best_so_far_svg([0.9, None, 0.4, 0.6], maximize=False, label="loss <best>")
    assert svg.count("<circle") == 3
    assert 'aria-label="loss &lt;best&gt;"' in svg
    path = re.search(r'd="([^"]+)"', svg).group(1)
    assert path.startswith("M") and path.count("L") >= 3
    assert best_so_far_svg([0.5], maximize=True) == ""
