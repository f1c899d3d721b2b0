"""Forms from the notebook: ``caliban_jupyter.form()``, ``%caliban_form`` and
``%%caliban_cloud --form`` (the widget itself is :mod:`caliban_jupyter.widgets.form`)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ..service.cell_program import capture_cell, experiment_parameters, program_overrides
from .api import _experiment_source, is_target, kernel_history
from .args import cloud_parser, namespace_from_options
from .session import get_config, submitting


def form(target: str | None = None, *script_args: Any,
         initial: Mapping[str, Any] | None = None,
         table_options: Mapping[str, Any] | None = None, **options: Any):
    """A submission form (ipywidgets) for ``target``, prefilled from ``options``.

    ``target`` is a module, script or notebook path, or a string of code (captured like a
    cell when the form plans or submits). ``options`` are ``cloud()``'s keyword arguments;
    ``initial`` prefills fields by flag name as well (``{"gpu_spec": "2xV100"}``, checked
    by the form, not here). ``table_options`` go to the job table shown after submitting
    (``interval``, ``page_size``, ``autostart``...).
    """
    args = namespace_from_options(cloud_parser("caliban_jupyter.form"), options,
                                  what="caliban_jupyter.form()")
    args.script_args = [str(a) for a in script_args]
    prefill = {**changed_options(cloud_parser("caliban_jupyter.form"), args),
               **(initial or {})}
    if target is not None and not is_target(target):
        return program_form(target, kernel_history(), args, prefill,
                            table_options=table_options)
    return notebook_form(target=target, initial=prefill, table_options=table_options)


def notebook_form(**kwargs: Any):
    """A :class:`~caliban_jupyter.widgets.form.CalibanForm` that plans with this session's
    settings (``%config Caliban``) and records its submissions as this kernel's groups."""
    from ..widgets.form import CalibanForm

    return CalibanForm(session=lambda: get_config().session(), submitting=submitting,
                       **kwargs)


def changed_options(parser: argparse.ArgumentParser, args: argparse.Namespace
                    ) -> dict[str, Any]:
    """The flags set to something other than their default: what prefills a form."""
    defaults = vars(parser.parse_args([]))
    out = {k: v for k, v in vars(args).items()
           if not k.startswith("_") and k not in ("form", "capture", "help")
           and v is not None and v != defaults.get(k)}
    if getattr(args, "script_args", None):
        out["script_args"] = list(args.script_args)
    return out


def program_form(code: str, history: Sequence[str], args: argparse.Namespace,
                 initial: dict[str, Any], user_ns: Mapping[str, Any] | None = None,
                 cwd: str | None = None, table_options: Mapping[str, Any] | None = None):
    """A form whose program is ``code`` captured against ``history`` each time the form
    plans: the experiment keys typed in the form become the program's parameters."""
    from dataclasses import replace

    from ..spec.experiments import expand_experiment_config, load_experiment_config

    cwd = cwd or os.getcwd()
    source = _experiment_source(initial.get("experiment_config"), user_ns, cwd)
    if source is not None:
        initial["experiment_config"] = load_experiment_config(source)
    mode = args.capture or get_config().capture

    def prepare(request):
        # Expanded once per plan: for the program's parameters and for the plan itself.
        experiments = None
        if request.experiment_config is not None:
            experiments = expand_experiment_config(
                load_experiment_config(request.experiment_config))
        return replace(request, **program_overrides(
            code, history, mode, [{}] if experiments is None else experiments,
            request.cwd, values=user_ns)), experiments

    # Capture once now, so a name nothing defines is reported before the form appears.
    experiments = [{}] if source is None else expand_experiment_config(
        initial["experiment_config"])
    capture_cell(code, history, mode, experiment_parameters(experiments), user_ns)
    return notebook_form(program=code, initial=initial, prepare=prepare, cwd=cwd,
                         table_options=table_options)
