"""The one exception hierarchy for everything a user can cause.

Every user-facing failure is a :class:`CalibanError` whose message says what is wrong and
what to do about it. Front ends show ``str(error)`` as a single message (an IPython
``UsageError``, or ``caliban: error: ...`` with the exit status below), never a traceback.
"""

from __future__ import annotations


class CalibanError(Exception):
    """Base of every error a user can cause or fix. ``exit_code`` is the CLI exit status."""

    exit_code = 1


class UsageError(CalibanError):
    """Bad flags, arguments or settings: fix the command line or the config."""

    exit_code = 2


class ConfigError(UsageError):
    """A broken ``.calibanconfig.json`` or conflicting settings."""


class SpecError(UsageError):
    """An invalid accelerator / machine type / region combination."""


class ExperimentConfigError(UsageError):
    """An experiment config that cannot be parsed or expanded."""


class SearchSpaceError(ExperimentConfigError):
    """A hyperparameter search space (``--tune``) that Vertex AI would refuse or that
    makes no search."""


class LabelError(UsageError):
    """Labels that Vertex AI would reject (too many, colliding keys)."""


class TargetError(UsageError):
    """The module, script or notebook to run is missing or malformed."""


class CaptureError(UsageError):
    """Notebook code that cannot be captured (e.g. a name nothing defines)."""


class ExportError(UsageError):
    """A job directory that cannot be written where asked (e.g. a non-empty directory)."""


class DockerError(CalibanError):
    """The Docker engine is unreachable or refused an operation."""


class BuildError(DockerError):
    """A Dockerfile step failed; the message holds the step and its output."""


class PushError(DockerError):
    """Pushing the image failed (often authentication)."""


class StagingError(CalibanError):
    """Uploading a code package or build context to the staging location failed."""


class BackendError(CalibanError):
    """The job service (Vertex AI or the emulator) refused or failed a request."""


class SubmissionError(BackendError):
    """Some jobs of a sweep were not submitted; ``caliban resubmit`` completes it."""


class NotFoundError(CalibanError):
    """A job, experiment group or resource that does not exist."""
