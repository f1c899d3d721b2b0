"""The form's runtime controls: Spot or flex-start, timeout, workers, env and the other
runtime settings of :class:`~caliban_jupyter.spec.runtime.RuntimeFlags`.

Like the rest of the form, these controls validate nothing themselves: they become a
``RuntimeFlags`` that the service checks, and its message is shown inline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

import ipywidgets as w

from ..flags import choices_of
from ..spec import flag_schema
from ..spec.flag_schema import Flag
from ..spec.runtime import RuntimeFlags
from ._form_parts import STYLE, dropdown, split_list, text, text_value

__all__ = ["RuntimeControls", "runtime_fields"]


def runtime_fields() -> tuple[Flag, ...]:
    """The flag schema's runtime flags the form takes, in schema order."""
    return tuple(f for f in flag_schema.flags("form") if f.group in flag_schema.RUNTIME_GROUPS)


class RuntimeControls:
    """The runtime controls, in two boxes the form places (``scheduling``, ``runtime``),
    one per runtime flag of the flag schema the form takes: text fields, dropdowns for
    choices, checkboxes for switches, and one toggle for the flags that are one choice
    (Spot or flex-start). The ``scheduling`` box holds the scheduling and distributed
    flags, the ``runtime`` box the rest.

    Parameters
    ----------
    initial
        Flag names to prefill values (``spot``, ``timeout``, ``workers``, ``env`` or
        ``job_env``...), as ``caliban_jupyter.form()`` and ``--form`` pass them.
    """

    def __init__(self, initial: Mapping[str, Any] | None = None) -> None:
        init = dict(initial or {})
        known = runtime_fields()
        for flag in known:  # API names (env) -> the parser's dests (job_env)
            if flag.name in init and flag.argdest not in init:
                init[flag.argdest] = init.pop(flag.name)
        strategies = [f for f in known if f.form_control == "strategy"]
        chosen = next((f.name for f in reversed(strategies) if init.get(f.name)), "")
        self.strategies = tuple(f.name for f in strategies)
        self.strategy = w.ToggleButtons(
            options=(("on-demand", ""), *((f.label or f.name, f.name) for f in strategies)),
            value=chosen, description="scheduling", style={**STYLE, "button_width": "90px"})
        self.texts: dict[str, w.Text] = {}
        self.dropdowns: dict[str, w.Dropdown] = {}
        self.checks: dict[str, w.Checkbox] = {}
        boxes: dict[str, list[w.Widget]] = {"scheduling": [self.strategy], "runtime": []}
        checks: dict[str, list[w.Widget]] = {"scheduling": [], "runtime": []}
        for flag in known:
            box = "runtime" if flag.group == "runtime" else "scheduling"
            kind, key, label = flag.form_control, flag.argdest, flag.label or flag.name
            if kind == "text":
                self.texts[key] = text(label, flag.placeholder, text_value(init.get(key)))
                boxes[box].append(self.texts[key])
            elif kind == "dropdown":
                self.dropdowns[key] = _choice(label, flag, init.get(key))
                boxes[box].append(self.dropdowns[key])
            elif kind == "check":
                self.checks[key] = w.Checkbox(value=bool(init.get(key)), description=label,
                                              indent=False)
                checks[box].append(self.checks[key])
        self.scheduling = w.VBox([*boxes["scheduling"], *checks["scheduling"]])
        self.runtime = w.VBox([*boxes["runtime"], *checks["runtime"]])
        self.strategy.observe(lambda _: self._sync(), names="value")
        self._sync()

    @property
    def boot_disk_type(self) -> w.Dropdown:
        return self.dropdowns["boot_disk_type"]

    @property
    def controls(self) -> list[w.ValueWidget]:
        """Every control whose change the form must re-validate."""
        return [self.strategy, *self.dropdowns.values(), *self.texts.values(),
                *self.checks.values()]

    def _sync(self) -> None:
        # max wait only means something for flex-start; kept (and so validated) if typed.
        if "max_wait" in self.texts:
            flex = self.strategy.value == "flex_start"
            self.texts["max_wait"].layout.display = None if flex or \
                self.texts["max_wait"].value.strip() else "none"

    def values(self) -> dict[str, Any]:
        """Every control's value by the parser's dest (text as typed; lists split)."""
        given: dict[str, Any] = {k: c.value.strip() or None for k, c in self.texts.items()}
        for flag in runtime_fields():
            if flag.type == "list" and flag.argdest in given:
                given[flag.argdest] = tuple(split_list(self.texts[flag.argdest].value))
        given.update({k: c.value or None for k, c in self.dropdowns.items()})
        given.update({k: bool(c.value) for k, c in self.checks.items()})
        given.update({name: self.strategy.value == name for name in self.strategies})
        return given

    def flags(self) -> RuntimeFlags:
        """The runtime flags the controls describe (text as typed: the service checks)."""
        mapped = {f.name for f in fields(RuntimeFlags)}
        return RuntimeFlags(**{k: v for k, v in self.values().items() if k in mapped})


def _choice(label: str, flag: Flag, initial: Any) -> w.Dropdown:
    control = dropdown(label)
    choices = tuple(choices_of(flag) or ())
    value = str(initial or "")
    # An invalid prefill is kept, so the service's message says why it is wrong.
    kept = [(f"{value} ✗", value)] if value and value not in choices else []
    control.options = [("(default)", ""), *((c, c) for c in choices), *kept]
    control.value = value
    return control
