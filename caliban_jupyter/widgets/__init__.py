"""ipywidgets front end: the submission form, the live job table and submission progress.

Thin by design: choices come from the accelerator catalog, every check from the service
(:func:`~caliban_jupyter.service.plan.plan_from_request`), and every action from a
:class:`~caliban_jupyter.service.groups.JobGroup`. Importing this package does not import
ipywidgets; the names below load their module on first access, so ``import caliban_jupyter``
stays cheap.

>>> from caliban_jupyter import widgets
>>> widgets.JobTable("alice-xgroup-...")   # doctest: +SKIP

The notebook's form is :func:`caliban_jupyter.form` (session settings, kernel groups).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .form import CalibanForm
    from .progress import SubmissionProgress
    from .table import JobTable

__all__ = ["CalibanForm", "JobTable", "SubmissionProgress"]

_WHERE = {
    "CalibanForm": "form",
    "JobTable": "table",
    "SubmissionProgress": "progress",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
