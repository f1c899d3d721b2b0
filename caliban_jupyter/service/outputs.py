"""What the jobs produced, back on this machine: ``-o`` values, files, executed notebooks.

Each job's output location is the ``baseOutputDirectory`` it was submitted with (see
:mod:`caliban_jupyter.spec.outputs`). :class:`Locator` finds it from here: Cloud Storage
through google-cloud-storage, or the local emulator's directory. :func:`read_outputs`
reads one job's manifest and values (checking each file's sha256), :func:`results` does it
for a group in parallel, one flat row per job, and :func:`download` copies everything
the jobs wrote, skipping files already there with the same hash.

Every problem with one job (no manifest, failed, a hash mismatch, a value that cannot be
loaded) is a message in that job's row: never a traceback, never a hang.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CalibanError, NotFoundError, UsageError
from ..records import JobRecord, output_uri_of
from ..settings import Settings
from ..spec.outputs import MANIFEST, NOTEBOOK, OUTPUTS_DIR, split_gs
from ..storage import (
    WORKERS,
    DownloadReport,
    GcsLocation,
    LocalLocation,
    Location,
    StorageError,
    download_tree,
)

__all__ = ["JobOutputs", "Locator", "download", "download_summary", "read_outputs", "results",
           "to_table"]


@dataclass(frozen=True)
class JobOutputs:
    """One job's values, and what went wrong with it or them (None when nothing did)."""

    values: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    manifest: Mapping[str, Any] | None = None


class Locator:
    """Finds each job's output location from this machine (one per sweep or command).

    Parameters
    ----------
    settings
        Where the jobs ran: the emulator's endpoint, or the project and key for Cloud
        Storage.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._client: Any = None
        self._gs_roots: dict[str, Path | None] = {}

    def locate(self, record: JobRecord) -> Location | None:
        """The job's output location, or None when it was submitted without one."""
        uri = output_uri_of(record)
        if not uri:
            return None
        if uri.startswith("file://"):
            from urllib.parse import unquote, urlsplit

            return LocalLocation(unquote(urlsplit(uri).path), uri=uri)
        if not uri.startswith("gs://"):
            return None
        root = self.gs_root(record.backend)
        if root is not None:
            bucket, path = split_gs(uri)
            return LocalLocation(root / bucket / path, uri=uri)
        return GcsLocation(uri, self.gcs_client())

    def gcs_client(self) -> Any:
        with self._lock:
            if self._client is None:
                from ..storage import gcs_client

                s = self.settings
                self._client = gcs_client(project=s.project_id if s else None,
                                          cloud_key=s.cloud_key if s else None)
            return self._client

    def gs_root(self, backend: str) -> Path | None:
        """Where the ``gs://`` locations of ``backend``'s jobs live on this machine (the
        emulator's directory), or None for Cloud Storage: asked of the backend once."""
        with self._lock:
            if backend not in self._gs_roots:
                from .backends import backend_type

                self._gs_roots[backend] = backend_type(backend).gs_root(self.settings)
            return self._gs_roots[backend]


# -- values -----------------------------------------------------------------------------

def _load(name: str, entry: Mapping[str, Any], data: bytes) -> Any:
    serializer = entry.get("serializer")
    if serializer == "json":
        return json.loads(data)
    if serializer == "npy":
        try:
            import numpy
        except ImportError:
            raise _Unloadable(f"{name} is a NumPy array: install numpy here to load it") \
                from None
        return numpy.load(io.BytesIO(data), allow_pickle=False)
    if serializer in ("pickle", "cloudpickle"):
        import pickle

        # A pickle runs code when loaded: these come from the user's own jobs.
        return pickle.loads(data)  # noqa: S301
    raise _Unloadable(f"{name}: unknown serializer {serializer!r} (a newer caliban wrote it?)")


class _Unloadable(Exception):
    pass


def read_outputs(record: JobRecord, location: Location | None) -> JobOutputs:
    """One job's values and messages (reads the manifest, then each value)."""
    if not record.is_submitted:
        return JobOutputs(error=record.error or "never submitted")
    if location is None:
        return JobOutputs(error=record.error or "no output location: submitted without "
                          "an output_dir")
    if not record.is_terminal:
        return JobOutputs(error=f"{record.state}: not finished yet")
    try:
        raw = location.read(f"{OUTPUTS_DIR}/{MANIFEST}")
    except StorageError as e:
        return JobOutputs(error=str(e))
    if raw is None:
        why = record.error or (f"the job ended {record.state} and saved no values" if
                               record.state != "SUCCEEDED" else "the job saved no values "
                               "(submitted without -o)")
        return JobOutputs(error=why)
    try:
        manifest = json.loads(raw)
        entries = dict(manifest.get("outputs") or {})
    except (ValueError, AttributeError, TypeError):
        return JobOutputs(error=f"the manifest in {location.uri} is not valid JSON")
    messages = [str(m) for m in (manifest.get("errors") or {}).values()]
    if manifest.get("error"):
        messages.insert(0, str(manifest["error"]))
    values: dict[str, Any] = {}
    for name, entry in entries.items():
        try:
            data = location.read(f"{OUTPUTS_DIR}/{entry['file']}")
        except StorageError as e:
            messages.append(f"{name}: {e}")
            continue
        if data is None:
            messages.append(f"{name}: {entry['file']} is missing from {location.uri}")
        elif hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            messages.append(f"{name}: {entry['file']} does not match its sha256 in the "
                            "manifest (changed after the job wrote it)")
        else:
            try:
                values[name] = _load(name, entry, data)
            except _Unloadable as e:
                messages.append(str(e))
            except Exception as e:  # unpickling runs arbitrary code: report, go on
                messages.append(f"{name}: cannot be loaded here ({type(e).__name__}: {e}); "
                                f"saved with {entry.get('serializer')} on Python "
                                f"{manifest.get('python')}")
    if record.state != "SUCCEEDED" and not messages:
        messages.append(record.error or f"the job ended {record.state}")
    return JobOutputs(values=values, error="; ".join(messages) or None, manifest=manifest)


def _parameters(record: JobRecord, configs: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    if record.index in configs:
        return dict(configs[record.index])
    # A group rebuilt from the cloud alone: read `--key value` back from the arguments.
    out: dict[str, Any] = {}
    args = list(record.args)
    for i, arg in enumerate(args):
        if arg.startswith("--") and len(arg) > 2:
            nxt = args[i + 1] if i + 1 < len(args) else None
            out[arg[2:]] = True if nxt is None or nxt.startswith("--") else nxt
    return out


def results(records: Sequence[JobRecord], locator: Locator, *,
            configs: Mapping[int, Mapping[str, Any]] | None = None,
            workers: int = WORKERS) -> list[dict[str, Any]]:
    """One flat row per job, in index order: ``job``, its experiment parameters, its
    values, ``state``, ``error`` and ``cost_usd`` (its cost so far, estimated from list
    prices by Vertex's billing rules: spec/cost.py; ``None`` when a price is unknown).
    Jobs are read in parallel (``workers`` at once)."""
    from ..spec.cost import cost_so_far
    from ..tables import cost_fields

    configs = configs or {}

    def row(record: JobRecord) -> dict[str, Any]:
        try:
            found = read_outputs(record, locator.locate(record))
        except CalibanError as e:  # e.g. no credentials for Cloud Storage
            found = JobOutputs(error=str(e))
        return {"job": record.display_name, **_parameters(record, configs),
                **found.values, "state": record.state, "error": found.error,
                "cost_usd": cost_so_far(cost_fields(record))["usd"]}

    ordered = sorted(records, key=lambda r: r.index)
    if workers <= 1:
        return [row(r) for r in ordered]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="caliban-results") as pool:
        return list(pool.map(row, ordered))


def to_table(rows: list[dict[str, Any]], *, required: bool = False) -> Any:
    """A pandas DataFrame of ``rows`` when pandas is installed, else the list itself
    (``required``: pandas missing is an error saying to install it)."""
    try:
        import pandas
    except ImportError:
        if required:
            raise UsageError("results(frame=True) needs pandas: pip install pandas (or "
                             "pass frame=False for a list of dicts)") from None
        return rows
    return pandas.DataFrame(rows)


# -- files ------------------------------------------------------------------------------

def download(records: Sequence[JobRecord], dest: str | Path, locator: Locator, *,
             workers: int = WORKERS) -> DownloadReport:
    """Copy what each job wrote to ``{dest}/{display_name}/``, and its executed notebook to
    ``{dest}/{display_name}.ipynb``; files already there with the same hash are skipped."""
    root = Path(dest).expanduser()
    if root.exists() and not root.is_dir():
        raise UsageError(f"--dest {dest}: is a file; name a directory")
    jobs = []
    for record in records:
        location = locator.locate(record)
        if location is None:
            continue
        name = record.display_name

        def place(path: str, name: str = name) -> Path:
            if path == NOTEBOOK:
                return root / f"{name}.ipynb"
            return root / name / path

        jobs.append((location, place))
    if not jobs:
        raise NotFoundError("none of these jobs has an output location (they were submitted "
                            "without an output_dir)")
    return download_tree(jobs, workers=workers)


def download_summary(report: DownloadReport, dest: str | Path, names: Sequence[str]) -> str:
    """What a download did, in a few lines (`caliban outputs` and ``%caliban_outputs``)."""
    lines = [f"{len(report.copied)} file(s) copied ({report.bytes / 1e6:.1f} MB), "
             f"{len(report.skipped)} already there with the same hash, in {dest}"]
    notebooks = [Path(dest, f"{n}.ipynb") for n in names if Path(dest, f"{n}.ipynb").exists()]
    lines += [f"  executed notebook: {p}" for p in notebooks]
    return "\n".join(lines)
