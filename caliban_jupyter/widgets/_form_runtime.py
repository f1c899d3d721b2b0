"""The form's runtime controls: Spot or flex-start, timeout, workers, env and the other
runtime settings of :class:`~caliban_jupyter.spec.runtime.RuntimeFlags`.

Like the rest of the form, these controls validate nothing themselves: they become a
``RuntimeFlags`` that the service checks, and its message is shown inline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as w

from ..spec.pools import BOOT_DISK_TYPES
from ..spec.runtime import RuntimeFlags
from ._form_parts import STYLE, dropdown, split_list, text, text_value

__all__ = ["RuntimeControls"]

#: Scheduling choices: label -> value.
STRATEGIES = (("on-demand", ""), ("Spot", "spot"), ("flex-start", "flex_start"))
#: Text settings: flag -> (description, placeholder).
_TEXTS = {
    "timeout": ("timeout", "e.g. 90m, 2h, 1d (none: Vertex's 7 days)"),
    "max_wait": ("max wait", "flex-start: wait this long for capacity, e.g. 2h"),
    "workers": ("workers", "0: the chief only"),
    "worker_machine_type": ("worker machine", "default: the chief's"),
    "worker_gpu_spec": ("worker GPUs", "default: the chief's; none: CPU only"),
    "job_env": ("env", "KEY=VALUE, KEY2=VALUE2 (never labels)"),
    "service_account": ("service account", "trainer@PROJECT.iam.gserviceaccount.com"),
    "network": ("network", "projects/NUMBER/global/networks/NAME"),
    "tensorboard": ("tensorboard", "projects/P/locations/L/tensorboards/ID"),
    "reservation": ("reservation", "a Compute Engine reservation name"),
    "boot_disk_size": ("boot disk GB", "100 to 64000 (default 100)"),
}
_CHECKS = {
    "restart_on_worker_restart": "restart the job when a worker restarts",
    "disable_retries": "disable retries",
    "enable_web_access": "web access (shell into replicas)",
}


class RuntimeControls:
    """The runtime controls, in two boxes the form places (``scheduling``, ``runtime``).

    Parameters
    ----------
    initial
        Flag names to prefill values (``spot``, ``timeout``, ``workers``, ``env`` or
        ``job_env``...), as ``caliban_jupyter.form()`` and ``--form`` pass them.
    """

    def __init__(self, initial: Mapping[str, Any] | None = None) -> None:
        init = dict(initial or {})
        if "env" in init and "job_env" not in init:
            init["job_env"] = init.pop("env")
        strategy = "flex_start" if init.get("flex_start") else "spot" if init.get("spot") \
            else ""
        self.strategy = w.ToggleButtons(options=STRATEGIES, value=strategy,
                                        description="scheduling",
                                        style={**STYLE, "button_width": "90px"})
        self.texts = {k: text(d, p, text_value(init.get(k))) for k, (d, p) in _TEXTS.items()}
        self.boot_disk_type = dropdown("boot disk")
        disk = str(init.get("boot_disk_type") or "")
        # An invalid prefill is kept, so the service's message says why it is wrong.
        kept = [(f"{disk} ✗", disk)] if disk and disk not in BOOT_DISK_TYPES else []
        self.boot_disk_type.options = [("(default)", ""), *((t, t) for t in BOOT_DISK_TYPES),
                                       *kept]
        self.boot_disk_type.value = disk
        self.checks = {k: w.Checkbox(value=bool(init.get(k)), description=d, indent=False)
                       for k, d in _CHECKS.items()}
        t = self.texts
        self.scheduling = w.VBox([self.strategy, t["max_wait"], t["timeout"], t["workers"],
                                  t["worker_machine_type"], t["worker_gpu_spec"],
                                  self.checks["restart_on_worker_restart"],
                                  self.checks["disable_retries"]])
        self.runtime = w.VBox([t["job_env"], t["service_account"], t["network"],
                               t["tensorboard"], t["reservation"], t["boot_disk_size"],
                               self.boot_disk_type, self.checks["enable_web_access"]])
        self.strategy.observe(lambda _: self._sync(), names="value")
        self._sync()

    @property
    def controls(self) -> list[w.ValueWidget]:
        """Every control whose change the form must re-validate."""
        return [self.strategy, self.boot_disk_type, *self.texts.values(),
                *self.checks.values()]

    def _sync(self) -> None:
        # max wait only means something for flex-start; kept (and so validated) if typed.
        flex = self.strategy.value == "flex_start"
        self.texts["max_wait"].layout.display = None if flex or \
            self.texts["max_wait"].value.strip() else "none"

    def flags(self) -> RuntimeFlags:
        """The runtime flags the controls describe (text as typed: the service checks)."""
        given: dict[str, Any] = {k: c.value.strip() or None for k, c in self.texts.items()
                                 if k != "job_env"}
        given.update({k: bool(c.value) for k, c in self.checks.items()})
        return RuntimeFlags(
            spot=self.strategy.value == "spot",
            flex_start=self.strategy.value == "flex_start",
            job_env=tuple(split_list(self.texts["job_env"].value)),
            boot_disk_type=self.boot_disk_type.value or None,
            **given,
        )
