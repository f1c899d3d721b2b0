"""The submission form: every ``caliban cloud`` flag as a control, validated as you type.

The form holds no rules of its own. Its dropdowns come from the accelerator catalog
(:mod:`~caliban_jupyter.widgets._choices`); every check is
:func:`~caliban_jupyter.service.plan.plan_from_request`, whose one-line message is shown inline
and disables Submit. Submit runs :func:`~caliban_jupyter.service.submission.execute` in a background
thread feeding :class:`~caliban_jupyter.widgets.progress.SubmissionProgress`, then shows the
live :class:`~caliban_jupyter.widgets.table.JobTable`.
"""

from __future__ import annotations

import html
import os
import shlex
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..errors import CalibanError
from ..spec import choices as _choices
from ._cost import cost_html
from ._form_parts import (
    STYLE,
    ExperimentEditor,
    dropdown,
    initial_accelerator,
    notes_html,
    preview_html,
    program_html,
    split_list,
    text,
    text_fields,
    text_value,
)
from ._form_runtime import RuntimeControls
from .progress import SubmissionProgress

if TYPE_CHECKING:
    from ..service.plan import CloudRequest, Plan
    from .table import JobTable

__all__ = ["CalibanForm"]

_ALIASES = {"label": "labels", "dir": "dirs", "target": "module", "output": "outputs"}


class CalibanForm(w.VBox):
    """A form for one ``caliban cloud`` submission.

    Parameters
    ----------
    target
        The module, script or notebook to run (``MODULE``); editable in the form.
    program
        Instead of a target: the source of a generated program (a captured cell).
    initial
        Flag names to values, e.g. ``{"gpu_spec": "2xV100", "backend": "local",
        "experiment_config": {"lr": [0.1, 0.01]}, "script_args": ["--epochs", "3"]}``.
    prepare
        Called on every request before planning; returns the request to plan and the
        experiments its config expands to (or ``None``: the plan loads them). The notebook
        front end uses it to fill in ``program_parameters`` and ``requirements`` from the
        captured cell, which needs the experiments expanded.
    cwd
        Directory the target and ``.calibanconfig.json`` are read from (default: now's).
    table_options
        Keyword arguments for the :class:`~caliban_jupyter.widgets.table.JobTable` shown
        after submission (``interval``, ``page_size``, ``autostart``...).
    session
        Returns the session's settings (``%config Caliban``), read each time the form
        plans; default: none.
    submitting
        A context manager around each submission, given the experiment group; it yields
        a function the submitted records pass through (the notebook records the kernel's
        groups with it). Default: nothing around.
    """

    def __init__(self, target: str | None = None, program: str | None = None,
                 initial: Mapping[str, Any] | None = None, *,
                 prepare: Callable[[CloudRequest], tuple[CloudRequest, Any]] | None = None,
                 cwd: str | None = None, table_options: Mapping[str, Any] | None = None,
                 session: Callable[[], Mapping[str, Any]] | None = None,
                 submitting: Callable[[str], Any] | None = None):
        init = {_ALIASES.get(k, k): v for k, v in (initial or {}).items()}
        self.program = program
        self.prepare = prepare
        self.cwd = cwd or os.getcwd()
        self.table_options = dict(table_options or {})
        self._session = session or dict
        self._submitting_to = submitting or _as_is
        self.plan: Plan | None = None
        self.records: list[Any] = []
        self.group: Any = None  # the submitted JobGroup
        self.table: JobTable | None = None
        self.failure: str | None = None
        self._thread: threading.Thread | None = None
        # One submission per click, and per form until it is edited: the lock is held from
        # the click until the submission ends, `_submitted` from its success to the next
        # edit (a second click of a double click must not submit the sweep again).
        self._submitting = threading.Lock()
        self._submitted = False
        self._syncing = False

        module = target or init.get("module") or ""
        self.target = text("module", "trainer.train or train.py", str(module))
        if program is not None:
            self.target.value, self.target.disabled = "(this cell)", True
        self.script_args = text("script args", "--epochs 3",
                                 text_value(init.get("script_args"), shell=True))
        self._text_fields = text_fields()
        texts = {f.name: text(f.label or f.name, f.placeholder, text_value(init.get(f.name)))
                 for f in self._text_fields}
        self.texts = texts
        kind, short, count = initial_accelerator(init)
        self.kind = w.ToggleButtons(options=_choices.KINDS, value=kind, description="accelerator",
                                    style={**STYLE, "button_width": "70px"})
        self.accelerator = dropdown("type")
        self.count = dropdown("count")
        self.machine_type = dropdown("machine type")
        self.region = dropdown("region")
        self.hidden_note = w.HTML()
        self.nogpu = w.Checkbox(value=bool(init.get("nogpu")) or kind == "none",
                                description="nogpu (CPU image, no default GPU)", indent=False)
        self.force = w.Checkbox(value=bool(init.get("force")), indent=False,
                                description="force (skip catalog checks)")
        self.backend = dropdown("backend")
        from ..service.backends import backend_choices

        # Every installed job service (plug-ins included), from the backend registry.
        self.backend.options = [("(from settings)", ""), *backend_choices()]
        self.backend.value = str(init.get("backend") or "")
        self.experiments = ExperimentEditor(init.get("experiment_config"), self.cwd)
        self.runtime = RuntimeControls(init)
        self.message = w.HTML()
        self.message.add_class("caliban-form-message")
        self.preview = w.HTML()
        self.preview.add_class("caliban-form-preview")
        self.program_view = w.HTML()
        self.program_view.add_class("caliban-form-program")
        self.program_box = w.Accordion(children=[self.program_view], titles=("program",),
                                       selected_index=None)
        self.dry_run_button = w.Button(description="Dry run", icon="eye")
        self.submit_button = w.Button(description="Submit", icon="paper-plane",
                                      button_style="primary")
        self.results = w.VBox()
        self._choice: dict[str, Any] = {"short": short, "count": count,
                        "machine": str(init.get("machine_type") or ""),
                        "region": str(init.get("region") or self._default_region())}

        hardware = w.VBox([self.kind, self.accelerator, self.count, self.machine_type,
                           self.region, self.hidden_note, w.HBox([self.nogpu, self.force])])
        # The text fields by their flag's group: "where" and "image" have their own
        # sections, every other group goes with what to run.
        sections: dict[str, list[w.Widget]] = {"what": [self.target, self.script_args],
                                               "where": [self.backend], "image": []}
        for f in self._text_fields:
            sections[f.group if f.group in sections else "what"].append(texts[f.name])
        what, where, image = (w.VBox(sections[k]) for k in ("what", "where", "image"))
        more = w.Accordion(children=[self.runtime.scheduling, self.runtime.runtime, where,
                                     image],
                           titles=("scheduling and workers", "runtime", "where", "image"))
        super().__init__(children=[
            w.HTML("<b>caliban cloud</b>"),
            w.HBox([w.VBox([what, hardware, more]), self.experiments],
                   layout=w.Layout(flex_flow="row wrap", grid_gap="12px")),
            self.message, self.preview, self.program_box,
            w.HBox([self.dry_run_button, self.submit_button]),
            self.results,
        ])
        self.add_class("caliban-form")
        self._sync_choices()
        for control in (self.kind, self.accelerator, self.count, self.machine_type,
                        self.region, self.nogpu):
            control.observe(self._on_hardware, names="value")
        for control in (self.target, self.script_args, self.force, self.backend,
                        self.experiments.text, *texts.values(), *self.runtime.controls):
            control.observe(lambda _: self._edited(), names="value")
        self.dry_run_button.on_click(lambda _: self.dry_run())
        self.submit_button.on_click(lambda _: self.submit())
        self.validate()

    # -- choices --------------------------------------------------------------------------

    def _default_region(self) -> str:
        from ..settings import resolve_settings
        from ..spec.defaults import DEFAULT_REGION

        try:
            return resolve_settings({}, cwd=self.cwd, session=dict(self._session())).region
        except CalibanError:
            return DEFAULT_REGION  # the same error is shown by validate()

    def _on_hardware(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        owner = change["owner"]
        if owner is self.nogpu:
            if change["new"] and self.kind.value == "GPU":
                self.kind.value = "none"  # re-enters through the kind observer
                return
            if not change["new"] and self.kind.value == "none":
                self.kind.value = "GPU"
                return
        elif owner is self.kind:
            self.nogpu.value = change["new"] == "none" or (
                change["new"] == "TPU" and self.nogpu.value)
            self._choice["short"] = self._choice["count"] = None
        else:
            key = {id(self.accelerator): "short", id(self.count): "count",
                   id(self.machine_type): "machine", id(self.region): "region"}[id(owner)]
            self._choice[key] = change["new"]
        self._sync_choices()
        self._edited()

    def _sync_choices(self) -> None:
        """Recompute every dropdown's options from the catalog and the current picks."""
        kind, c = self.kind.value, self._choice
        self._syncing = True
        try:
            offered, hidden = _choices.accelerator_options(kind, c["region"])
            if kind != "none" and (c["short"] is None or c["short"] == ""):
                c["short"] = "P100" if kind == "GPU" and "P100" in offered else (
                    offered[0] if offered else None)
            counts = _choices.count_options(c["short"]) if kind != "none" else []
            if kind != "none" and c["count"] is None and counts:
                c["count"] = counts[0]
            self._set(self.accelerator, _choices.keep_current(offered, c["short"],
                                                              f"not in {c['region']}"),
                      c["short"], visible=kind != "none")
            self._set(self.count, _choices.keep_current(counts, c["count"],
                                                        f"not offered for {c['short']}"),
                      c["count"], visible=kind != "none")
            machines = _choices.machine_options(kind, c["short"], c["count"], c["region"])
            options = [("(default)", "")] + _choices.keep_current(machines, c["machine"])
            self._set(self.machine_type, options, c["machine"])
            regions = _choices.region_options(kind, c["short"])
            self._set(self.region, _choices.keep_current(regions, c["region"],
                                                         f"no {c['short'] or 'such'} here"),
                      c["region"])
            self.hidden_note.value = (
                f"<small>{len(hidden)} {kind} type(s) not offered in {c['region']} are hidden "
                f"({html.escape(', '.join(hidden[:6]))}{'…' if len(hidden) > 6 else ''}); "
                "pick another region to see them</small>" if hidden else "")
        finally:
            self._syncing = False

    @staticmethod
    def _set(dropdown: w.Dropdown, options: list[tuple[str, Any]], value: Any,
             visible: bool = True) -> None:
        with dropdown.hold_sync():
            if list(dropdown.options) != options:
                dropdown.options = options
            dropdown.value = value if any(v == value for _, v in options) else None
        dropdown.layout.display = None if visible else "none"

    # -- the request ----------------------------------------------------------------------

    def request(self, **overrides: Any) -> CloudRequest:
        """The :class:`~caliban_jupyter.service.plan.CloudRequest` the form describes.

        Raises
        ------
        CalibanError
            When the experiment config is not valid JSON (with line and column).
        """
        return self._prepared(**overrides)[0]

    def _prepared(self, **overrides: Any) -> tuple[CloudRequest, Any]:
        """The request, and its expanded experiments when ``prepare`` expanded them."""
        from ..service.plan import CloudRequest

        kind, c = self.kind.value, self._choice
        spec = f"{c['count']}x{c['short']}" if kind != "none" and c["short"] else None
        try:
            script_args = tuple(shlex.split(self.script_args.value))
        except ValueError as e:
            from ..errors import UsageError

            raise UsageError(f"script args: {e} (close the quote)") from None
        request = CloudRequest(
            module=None if self.program is not None else (self.target.value.strip() or None),
            program=self.program, script_args=script_args, nogpu=self.nogpu.value,
            gpu_spec=spec if kind == "GPU" else None,
            tpu_spec=spec if kind == "TPU" else None,
            machine_type=c["machine"] or None, force=self.force.value,
            experiment_config=self.experiments.config(),
            backend=self.backend.value or None,
            region=c["region"] or None, runtime=self.runtime.flags(), cwd=self.cwd,
            session=dict(self._session()), **{**self._text_values(), **overrides})
        return self.prepare(request) if self.prepare is not None else (request, None)

    def _text_values(self) -> dict[str, Any]:
        """The text fields' values as request fields (lists split; empty is unset)."""
        from ..service.plan import CloudRequest

        known = CloudRequest.__dataclass_fields__
        return {f.name: tuple(split_list(self.texts[f.name].value)) if f.type == "list"
                else self.texts[f.name].value.strip() or None
                for f in self._text_fields if f.name in known}

    def validate(self) -> Plan | None:
        """Plan the request; show the reason and disable Submit when it is invalid."""
        from ..service.plan import plan_from_request

        # Buttons first: each widget reaches the browser on its own, in the order set, so
        # a ✗ shown before them leaves Submit looking enabled (~0.1 s seen in Chromium).
        try:
            request, experiments = self._prepared()
            plan = plan_from_request(request, experiments=experiments)
        except CalibanError as e:
            self.plan = None
            self._show_buttons()
            self.message.value = ("<div class='caliban-form-error' style='color:#b00020;"
                                  f"white-space:pre-wrap'>✗ {html.escape(str(e))}</div>")
            self.preview.value = self.program_view.value = ""
            return None
        self.plan = plan
        self._show_buttons()
        n = len(plan.specs)
        self.message.value = (
            f"<div class='caliban-form-ok' style='color:#1e8e3e'>✓ {n} job{'s' * (n != 1)} "
            f"on {html.escape(plan.backend)} ({html.escape(plan.machine.machine_type)}, "
            f"{html.escape(plan.machine.accelerator_label)})</div>{notes_html(plan)}"
            f"{cost_html(plan)}")
        self.preview.value = preview_html(plan)
        self.program_view.value = program_html(plan)
        return plan

    def _edited(self) -> None:
        """A control changed: the form describes a new submission."""
        self._submitted = False
        self.validate()

    def _show_buttons(self) -> None:
        busy = self._submitting.locked()
        self.dry_run_button.disabled = self.plan is None or busy
        self.submit_button.disabled = self.plan is None or busy or self._submitted
        self.submit_button.description = "Submitted" if self._submitted else "Submit"
        self.submit_button.tooltip = ("submitted: edit the form to submit again"
                                      if self._submitted else "")

    @property
    def error(self) -> str | None:
        """The message shown while the form is invalid (None when it is valid)."""
        if self.plan is not None:
            return None
        import re

        return html.unescape(re.sub(r"<[^>]+>", "", self.message.value)).lstrip("✗ ") or None

    # -- actions --------------------------------------------------------------------------

    def dry_run(self) -> Any:
        """Show what would be submitted (nothing is built or submitted)."""
        plan = self.validate()
        if plan is None:
            return None
        from ..service.dryrun import DryRun

        shown = DryRun(plan)
        self.results.children = [w.HTML(shown._repr_html_())]
        return shown

    def submit(self) -> threading.Thread | None:
        """Plan again (fresh timestamps) and submit in a background thread.

        Returns the thread (``form.wait()`` joins it), or None when the form is invalid, a
        submission is running, or this form was submitted and not edited since.
        """
        if self._submitted or not self._submitting.acquire(blocking=False):
            return None
        self._show_buttons()  # disabled at once, before the (possibly slow) capture
        plan = self.validate()
        if plan is None:
            self._submitting.release()
            self._show_buttons()
            return None
        from ..service.costs import over_max_cost

        reason = over_max_cost(plan)  # nobody can answer a question in a button's callback
        if reason is not None:
            self._submitting.release()
            self._fail(SubmissionProgress(), f"nothing submitted: {reason}; raise max_cost "
                       "to submit it from the form")
            self._show_buttons()
            return None
        self.failure = None
        progress = SubmissionProgress()
        self.results.children = [progress]
        self._thread = threading.Thread(target=self._submit, args=(plan, progress),
                                        daemon=True, name="caliban-submit")
        self._thread.start()
        return self._thread

    def wait(self, timeout: float | None = None) -> JobTable | None:
        """Wait for the submission thread; return the job table (None if it failed)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.table

    def _submit(self, plan: Plan, progress: SubmissionProgress) -> None:
        from ..service.submission import submit

        try:
            with self._submitting_to(plan.xgroup) as submitted:
                self.group = submit(plan, progress)
                self.records = list(submitted(self.group.records))
        except CalibanError as e:
            self._fail(progress, str(e))
            return
        except BaseException as e:
            # Not a user mistake: still say so in the form, then let it reach the log.
            self._fail(progress, f"unexpected {type(e).__name__}: {e} (see the kernel log)")
            raise
        else:
            self._submitted = True
        finally:
            self._submitting.release()  # after an error, Submit is enabled again
            self._show_buttons()
        from .table import JobTable

        self.table = JobTable(self.group, records=self.records, **self.table_options)
        self.results.children = [progress, self.table]

    def _fail(self, progress: SubmissionProgress, message: str) -> None:
        self.failure = message
        progress.fail(message)
        self.message.value = ("<div class='caliban-form-error' style='color:#b00020;"
                              f"white-space:pre-wrap'>✗ {html.escape(message)}</div>")


@contextmanager
def _as_is(xgroup: str) -> Iterator[Callable[[Any], Any]]:
    yield lambda records: records
