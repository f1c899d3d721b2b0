"""Pictures of a sweep's or a study's results: the metric against each parameter, and the
best value so far over trials.

:func:`plot` draws them with matplotlib (imported only when called) for ``sweep.plot()``;
:func:`best_so_far_svg` draws the small best-so-far line the live table shows, as inline
SVG (no matplotlib, cheap enough to redraw on every refresh).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def best_so_far(values: Iterable[float | None], maximize: bool) -> list[float | None]:
    """The best value up to each position (None until the first value)."""
    best: float | None = None
    out: list[float | None] = []
    for v in values:
        if v is not None and (best is None or (v > best if maximize else v < best)):
            best = v
        out.append(best)
    return out


def numeric(value: Any) -> float | None:
    """``value`` as a finite float, or None (missing, failed, not a number)."""
    if isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _records(rows: Any) -> list[Mapping[str, Any]]:
    # A pandas DataFrame (sweep.results() with pandas) or a list of dicts.
    to_dict = getattr(rows, "to_dict", None)
    return list(to_dict("records")) if callable(to_dict) else list(rows)


def plot(rows: Any, metric: str, params: Sequence[str], *, maximize: bool | None = None,
         title: str | None = None) -> Any:
    """A matplotlib Figure: ``metric`` against each of ``params`` (one panel each), plus
    the best value so far over the rows' order when ``maximize`` is known.

    Rows without a numeric ``metric`` (failed, unfinished) are left out; the best row is
    marked. A parameter whose values are not all numbers is drawn as categories.
    """
    from matplotlib.figure import Figure

    records = [r for r in _records(rows) if numeric(r.get(metric)) is not None]
    if not records:
        raise ValueError(f"no row has a numeric {metric!r} yet: nothing to plot")
    ys = [numeric(r[metric]) for r in records]
    best_index = None
    if maximize is not None:
        best_index = max(range(len(ys)), key=lambda i: ys[i] if maximize else -ys[i])
    panels = len(params) + (1 if maximize is not None else 0)
    cols = min(3, max(1, panels))
    rows_n = math.ceil(panels / cols)
    fig = Figure(figsize=(3.6 * cols, 2.8 * rows_n), layout="constrained")
    axes = fig.subplots(rows_n, cols, squeeze=False).ravel()
    for ax, name in zip(axes, params, strict=False):
        xs = [r.get(name) for r in records]
        nums = [numeric(x) for x in xs]
        if all(n is not None for n in nums):
            ax.scatter(nums, ys, s=18, alpha=0.8)
            positive = [n for n in nums if n is not None and n > 0]
            if len(positive) == len(nums) and max(positive) / min(positive) >= 100:
                ax.set_xscale("log")
            bx = nums
        else:
            labels = sorted({str(x) for x in xs})
            where = {label: i for i, label in enumerate(labels)}
            bx = [where[str(x)] for x in xs]
            ax.scatter(bx, ys, s=18, alpha=0.8)
            ax.set_xticks(range(len(labels)), labels)
            ax.set_xlim(-0.5, len(labels) - 0.5)
        if best_index is not None:
            ax.scatter([bx[best_index]], [ys[best_index]], s=60, marker="*", color="C3",
                       label="best")
        ax.set_xlabel(name)
        ax.set_ylabel(metric)
    if maximize is not None:
        ax = axes[len(params)]
        trials = list(range(1, len(ys) + 1))
        ax.plot(trials, best_so_far(ys, maximize), color="C3", drawstyle="steps-post",
                label="best so far")
        ax.scatter(trials, ys, s=12, alpha=0.6, label=metric)
        ax.set_xlabel("trial")
        ax.set_ylabel(metric)
        ax.legend(fontsize="small")
    for ax in axes[panels:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    _show_figures_as_png()
    return fig


def _show_figures_as_png() -> None:
    """Let IPython display a bare Figure as a PNG (pyplot's inline backend registers this
    only once pyplot is imported; :func:`plot` does not use pyplot, so that no figure
    piles up in pyplot's state)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    formatter = shell.display_formatter.formatters["image/png"]
    try:
        formatter.lookup_by_type("matplotlib.figure.Figure")
    except KeyError:  # not yet registered (by the inline backend or an earlier call)
        formatter.for_type_by_name("matplotlib.figure", "Figure", _png)


def _png(fig: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def best_so_far_svg(values: Sequence[float | None], maximize: bool, *, width: int = 120,
                    height: int = 28, label: str = "") -> str:
    """An inline SVG of the values (dots) and the best so far (a step line), or ``""``
    when fewer than two values are known."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(points) < 2:
        return ""
    lo = min(v for _, v in points)
    hi = max(v for _, v in points)
    span = (hi - lo) or 1.0
    n = max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return (2 + (width - 4) * i / n, height - 2 - (height - 4) * (v - lo) / span)

    best = best_so_far(values, maximize)
    steps = []
    for i, b in enumerate(best):
        if b is None:
            continue
        x, y = xy(i, b)
        steps.append(f"{'L' if steps else 'M'}{x:.1f},{y:.1f}")
        if i + 1 < len(best):
            steps.append(f"L{xy(i + 1, b)[0]:.1f},{y:.1f}")
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.6"/>'
                   for x, y in (xy(i, v) for i, v in points))
    name = html.escape(label or "best so far")
    return (f'<svg class="caliban-chart" width="{width}" height="{height}" role="img" '
            f'aria-label="{name}" viewBox="0 0 {width} {height}">'
            f'<g fill="currentColor" opacity="0.55">{dots}</g>'
            f'<path d="{" ".join(steps)}" fill="none" stroke="#d62728" stroke-width="1.5"/>'
            "</svg>")
