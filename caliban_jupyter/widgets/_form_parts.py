"""Pieces of the submission form: the experiment-config editor, prefill parsing, preview.

Split from :mod:`~caliban_jupyter.widgets.form` to keep each module small; nothing here
validates anything (the service does).
"""

from __future__ import annotations

import html
import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..spec import flag_schema
from ..spec.accelerators import split_accelerator_spec
from ..spec.flag_schema import Flag

if TYPE_CHECKING:
    from ..service.plan import Plan

__all__ = ["ExperimentEditor", "dropdown", "initial_accelerator", "preview_html",
           "program_html", "split_list", "text", "text_fields", "text_value"]

STYLE = {"description_width": "110px"}
_WIDTH = "460px"


def text_fields() -> tuple[Flag, ...]:
    """The flag schema's flags the form asks for as text fields (besides the runtime
    ones, :mod:`._form_runtime`'s), in schema order; label and placeholder are theirs."""
    return tuple(f for f in flag_schema.flags("form") if f.form_control == "text"
                 and f.group not in flag_schema.RUNTIME_GROUPS)


_PREVIEW_ROWS = 5
_PLACEHOLDER = """{
  // one job per combination; # and // comments are allowed
  "learning_rate": [0.01, 0.001],
  "layers": [2, 3]
}"""


def text(description: str, placeholder: str = "", value: str = "") -> w.Text:
    return w.Text(value=value, description=description, placeholder=placeholder,
                  style=STYLE, layout=w.Layout(width=_WIDTH), continuous_update=False)


def dropdown(description: str) -> w.Dropdown:
    # Each control needs its own Layout: hiding one must not hide the others.
    return w.Dropdown(description=description, style=STYLE, layout=w.Layout(width=_WIDTH))


def split_list(text: str) -> list[str]:
    """``"a=1, b=2 c=3"`` -> ``["a=1", "b=2", "c=3"]`` (commas or spaces separate)."""
    return [part for part in re.split(r"[,\s]+", text.strip()) if part]


def text_value(value: Any, *, shell: bool = False) -> str:
    """A prefill value as the text a Text control shows (lists joined, dicts as k=v)."""
    if value is None or value is False:
        return ""
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
        return shlex.join(items) if shell else ", ".join(items)
    return str(value)


def initial_accelerator(initial: Mapping[str, Any]) -> tuple[str, str | None, int | None]:
    """``(kind, short name, count)`` from ``gpu_spec``/``tpu_spec``/``nogpu`` prefills.

    Parsed leniently on purpose: an invalid prefill (``3xV100``) is kept, so the form shows
    it with the service's reason instead of silently dropping it.
    """
    for key, kind in (("tpu_spec", "TPU"), ("gpu_spec", "GPU")):
        text = initial.get(key)
        if text:
            split = split_accelerator_spec(str(text))
            if split is None or split[0] < 1:
                return kind, None, None
            return kind, split[1].upper().replace("-", "_"), split[0]
    if initial.get("nogpu"):
        return "none", None, None
    machine = str(initial.get("machine_type") or "")
    if machine:
        from ..spec.catalog import get_catalog

        cat = get_catalog()
        found = cat.machines.get(cat.canonical_machine(machine))
        if found is not None and found.accelerators:
            kind = cat.accelerators[found.accelerators[0]].kind.upper()
            return kind, found.accelerators[0], found.count
    return "GPU", None, None


class ExperimentEditor(w.VBox):
    """A JSON (with comments) editor for the experiment config.

    Parameters
    ----------
    initial
        A dict or list, a path to a JSON file (relative to ``cwd``), JSON text, or None.
    cwd
        Where relative paths are read from.
    """

    def __init__(self, initial: Any = None, cwd: str = "."):
        if isinstance(initial, (dict, list)):
            text = json.dumps(initial, indent=2)
        elif isinstance(initial, str) and initial.strip() and Path(cwd, initial).is_file():
            text = Path(cwd, initial).read_text(encoding="utf-8")
        else:
            text = str(initial or "")
        self.text = w.Textarea(value=text, placeholder=_PLACEHOLDER, continuous_update=True,
                               layout=w.Layout(width="360px", height="220px"))
        self.text.add_class("caliban-experiments")
        super().__init__([w.HTML("<b>experiment config</b> <small>(JSON; empty: one "
                                 "job)</small>"), self.text])

    def config(self) -> Any:
        """The parsed config, or None when empty.

        Raises
        ------
        ExperimentConfigError
            Invalid JSON, with line and column.
        """
        from ..spec.experiments import parse_commented_json

        if not self.text.value.strip():
            return None
        return parse_commented_json(self.text.value, "experiment config")


def notes_html(plan: Plan) -> str:
    """One line per label that sanitizing changed or dropped: said, never silent."""
    return "".join(f"<div class='caliban-form-note' style='color:#b06000'>⚠ "
                   f"{html.escape(note)}</div>" for note in plan.notes)


def preview_html(plan: Plan) -> str:
    """The first jobs' args and labels, and how many jobs there are."""
    e = html.escape
    rows = []
    for spec in plan.specs[:_PREVIEW_ROWS]:
        args = shlex.join(spec.args) if spec.args else "(none)"
        labels = ", ".join(f"{k}={v}" if v else k for k, v in spec.labels.items())
        rows.append(f"<tr><td>{spec.index}</td><td><code>{e(args)}</code></td>"
                    f"<td><small>{e(labels)}</small></td></tr>")
    n = len(plan.specs)
    more = f"<div>… and {n - _PREVIEW_ROWS} more</div>" if n > _PREVIEW_ROWS else ""
    from ..spec.runtime import describe_runtime

    if plan.specs:
        lines = describe_runtime(plan.specs[0].runtime, plan.machine)
        more += "".join(f"<div class='caliban-preview-runtime'><small>{e(line)}</small></div>"
                        for line in lines)
    return (f"<div class='caliban-preview'><b>{n} job{'s' * (n != 1)}</b> in group "
            f"<code>{e(plan.xgroup)}</code><table style='font-size:12px'><thead><tr>"
            "<th>#</th><th style='text-align:left'>args</th><th style='text-align:left'>"
            f"labels</th></tr></thead><tbody>{''.join(rows)}</tbody></table>{more}</div>")


def program_html(plan: Plan) -> str:
    """What each job runs: the generated program (a captured cell, a notebook) exactly as
    the image gets it, or the command of a module or script target."""
    from ..spec.target import PROGRAM_FILE

    e = html.escape
    if plan.program is None:
        command = plan.target.command() if plan.target else []
        what = f"an existing image ({plan.image})" if plan.image else "your code, as is"
        return (f"<div>each job runs <code>{e(shlex.join(command))}</code> with its args "
                f"({e(what)}): no generated program</div>")
    lines = plan.program.count("\n") + 1
    return (f"<div>each job runs <code>python3 {PROGRAM_FILE}</code> with its args; "
            f"{PROGRAM_FILE} ({lines} lines):</div><pre style='max-height:24em;"
            f"overflow:auto;margin:2px 0'>{e(plan.readable_program or '')}</pre>")
