"""Session defaults set with ``%config Caliban.<setting> = ...`` in a notebook.

The :class:`Caliban` configurable is registered with the shell's configurables by
``%load_ext caliban_jupyter``, so IPython's own ``%config`` magic lists and sets it. Its
values last for the kernel session and reach the service as the ``session`` layer of the
settings (precedence: flag > session > environment > .calibanconfig.json > default).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from traitlets import Enum, Unicode
from traitlets.config import Configurable

from ..service.backends import BACKEND_CHOICES
from ..settings import FLAG_SETTINGS

if TYPE_CHECKING:
    from ..events import Event
    from ..history import History
    from ..records import JobRecord

#: The traits that are settings (resolve_settings keys): the settings flags.
SETTING_TRAITS = FLAG_SETTINGS


class Caliban(Configurable):
    """Defaults for every ``%%caliban_cloud`` cell and ``caliban_jupyter.cloud()`` call.

    Unset traits (``None``) fall through to the environment, ``.calibanconfig.json`` and
    the built-in defaults. Example: ``%config Caliban.backend = "local"``.
    """

    project_id = Unicode(None, allow_none=True,
                         help="Google Cloud project id (Vertex backend).").tag(config=True)
    region = Unicode(None, allow_none=True,
                     help="Vertex AI region, e.g. us-central1.").tag(config=True)
    # The installed job services (read when a value is set, not at import).
    backend = Enum(BACKEND_CHOICES, default_value=None, allow_none=True,  # type: ignore[call-overload]
                   help="The job service: 'vertex' (Google), 'local' (the Vertex emulator on "
                        "this machine) or another installed one.").tag(config=True)
    base_image = Unicode(None, allow_none=True,
                         help="Base image for the jobs' images.").tag(config=True)
    registry = Unicode(None, allow_none=True,
                       help="Where images are pushed, e.g. "
                            "us-central1-docker.pkg.dev/PROJECT/REPO.").tag(config=True)
    cloud_key = Unicode(None, allow_none=True,
                        help="Service-account key JSON for API calls from this machine."
                        ).tag(config=True)
    endpoint = Unicode(None, allow_none=True,
                       help="Job service endpoint, e.g. http://127.0.0.1:8470.").tag(config=True)
    build = Enum(["auto", "docker", "package", "cloudbuild"], default_value=None,
                 allow_none=True,
                 help="How jobs become runnable: 'auto' (Docker when an engine answers, else "
                      "package), 'docker', 'package' (code package on a prebuilt image) or "
                      "'cloudbuild'.").tag(config=True)
    staging_bucket = Unicode(None, allow_none=True,
                             help="Where code packages and build contexts are uploaded, "
                                  "gs://BUCKET[/PREFIX].").tag(config=True)
    executor_image = Unicode(None, allow_none=True,
                             help="Prebuilt image for --build package: a short name such as "
                                  "pytorch-2.4-gpu, or an image URI.").tag(config=True)
    output_dir = Unicode(None, allow_none=True,
                         help="Where jobs write their outputs (-o values, files, executed "
                              "notebooks): gs://BUCKET/PREFIX, or a local directory with the "
                              "local backend.").tag(config=True)
    capture = Enum(["deps", "all"], default_value="deps",
                   help="Default --capture mode of %%caliban_cloud: 'deps' keeps only the "
                        "earlier cells the job needs, 'all' keeps every earlier cell."
                   ).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Not a setting: the experiment groups this kernel session submitted jobs to,
        # oldest first. `%caliban_stop` with no group stops only the newest of these: the
        # history is shared with every other kernel and shell on this machine.
        self.submitted_groups: list[str] = []

    def note_submitted(self, xgroup: str) -> None:
        """Remember that this session submitted jobs to ``xgroup`` (now its newest)."""
        if xgroup in self.submitted_groups:
            self.submitted_groups.remove(xgroup)
        self.submitted_groups.append(xgroup)

    def session(self) -> dict[str, Any]:
        """The settings set in this session (unset ones omitted), for ``resolve_settings``."""
        return {name: getattr(self, name) for name in SETTING_TRAITS
                if getattr(self, name) not in (None, "")}


_fallback: Caliban | None = None


def get_config() -> Caliban:
    """The session's :class:`Caliban`: the one registered with the running IPython shell,
    else a process-wide instance (plain Python scripts)."""
    global _fallback
    shell = _current_shell()
    if shell is not None:
        for c in getattr(shell, "configurables", ()):
            if isinstance(c, Caliban):
                return c
        return register(shell)
    if _fallback is None:
        _fallback = Caliban()
    return _fallback


def register(shell: Any) -> Caliban:
    """Create the shell's :class:`Caliban` (reading any ``c.Caliban`` from its config) and
    add it to ``shell.configurables`` so ``%config`` reaches it. Idempotent."""
    for c in shell.configurables:
        if isinstance(c, Caliban):
            return c
    inst = Caliban(parent=shell)
    shell.configurables.append(inst)
    return inst


def _current_shell() -> Any:
    import sys

    # Only ask IPython when it is already loaded: importing it here would cost ~100 ms in
    # plain scripts for nothing.
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()


@contextmanager
def submitting(xgroup: str) -> Iterator[Callable[[Sequence[JobRecord]], Sequence[JobRecord]]]:
    """Around a submission from this session: once jobs may exist in ``xgroup`` (it
    succeeded, or some jobs of the sweep were submitted), the session remembers the group
    as its own (see :meth:`Caliban.note_submitted`).

    A default group name may gain a suffix when submitted (another submission had it): the
    function yielded takes the submitted records, and returns them, so the group they were
    submitted in is the one remembered (a failed sweep's error carries its records too).
    """
    from ..errors import SubmissionError

    used = [xgroup]

    def submitted(records: Sequence[JobRecord]) -> Sequence[JobRecord]:
        if records:
            used[0] = records[0].xgroup
        return records

    try:
        yield submitted
    except SubmissionError as e:
        submitted(getattr(e, "records", None) or ())
        get_config().note_submitted(used[0])
        raise
    get_config().note_submitted(used[0])


def default_stop_group(history: History, *, yes: bool = False,
                       say: Callable[[Event], None] | None = None,
                       ) -> tuple[str | None, Callable[[Sequence[JobRecord]], bool] | None]:
    """The group a stop with no group acts on, and the confirmation it needs (or None).

    The newest group this session submitted jobs to needs none. Without one, the newest
    group in the history, which every kernel and shell on this machine shares, may be
    someone else's: its jobs are listed and ``input()`` asks, as ``caliban stop`` does on
    a terminal (``yes`` skips the question). Where nobody can answer (a front end with no
    input box), the confirmation raises a UsageError naming ``--xgroup`` and ``--yes``.
    """
    from ..events import Info

    say = say or (lambda event: print(event.message))
    mine = get_config().submitted_groups
    if mine:
        say(Info(f"experiment group {mine[-1]}: the newest this kernel submitted jobs to"))
        return mine[-1], None
    latest = history.latest_groups(1)
    if not latest or yes:
        return (latest[0].xgroup if latest else None), None
    from ..ask import make_confirm

    xgroup = latest[0].xgroup
    # input() looked up when asking: the kernel installs its own for each execution.
    ask = make_confirm(False, ask=lambda question: input(question), least=1, refusal=(
        f"name the group to stop it (%caliban_stop --xgroup {xgroup}, or "
        f"caliban_jupyter.stop({xgroup!r})), or pass --yes (yes=True)"))

    def confirm(jobs: Sequence[JobRecord]) -> bool:
        say(Info(f"This kernel submitted no jobs; the newest experiment group on this "
                 f"machine, {xgroup}, may be another kernel's or shell's."))
        return ask(jobs)

    return xgroup, confirm
