"""Runs in the job: save named values to the job's output location (``-o NAME``).

Usage inside the image::

    python3 caliban_outputs.py [--outputs loss,weights] [--metric loss] caliban_main.py [ARGS...]

runs ``caliban_main.py`` as ``__main__`` with the job's arguments, then saves each named
global to ``{output location}/outputs/`` and writes ``manifest.json`` there last: the
manifest is the commit marker, so a reader that finds it finds every file it lists. When
the program raises, the manifest records the error instead (and the job fails as before).

With ``--metric NAME`` (a trial of a tuning job), the program's global ``NAME`` is then
reported to the tuning service the way ``cloudml-hypertune`` does it: a JSON line
``{"global_step": "0", "NAME": "<value>", "timestamp": ..., "trial": "<CLOUD_ML_TRIAL_ID>"}``
appended to ``$CLOUD_ML_HP_METRIC_FILE`` (default ``/tmp/hypertune/output.metrics``;
GoogleCloudPlatform/cloudml-hypertune, hypertune/hypertune.py). Code that reports through
``hypertune`` itself keeps working: when the program defines no ``NAME`` but already
reported it, that report stands.

The output location is Vertex's ``baseOutputDirectory``: Vertex (and the local emulator)
set ``AIP_MODEL_DIR = {base}/model/`` and mount the bucket at ``/gcs/BUCKET``, so
``gs://B/P`` is written as ``/gcs/B/P``.

Standard library only (this runs on any base image), plus NumPy and cloudpickle when the
job has them. Python 3.8+.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import pickle
import platform
import sys
import time
import traceback
import types

MANIFEST = "manifest.json"
OUTPUTS_DIR = "outputs"
NOTEBOOK = "notebook.ipynb"
FORMAT = 1
# Protocol 4 reads on every Python the client may run (3.8+).
PICKLE_PROTOCOL = 4


def local_path(uri: str) -> str:
    """Where the job reaches ``uri``: ``gs://B/P`` through Vertex's FUSE mount
    (``/gcs/B/P``); a ``file://`` URI or a plain path as that path."""
    if uri.startswith("gs://"):
        return "/gcs/" + uri[len("gs://"):]
    if uri.startswith("file://"):
        return uri[len("file://"):]
    return uri


def base_output_dir(environ=None):
    """The job's output location as a local path, or None when the job has none.

    Vertex passes no variable for ``baseOutputDirectory`` itself: it is the parent of
    ``AIP_MODEL_DIR`` (``{base}/model/``).
    """
    env = os.environ if environ is None else environ
    model = env.get("AIP_MODEL_DIR")
    if not model:
        return None
    base = model.rstrip("/")
    if base.endswith("/model"):
        base = base[: -len("/model")]
    return local_path(base)


def _same(a, b) -> bool:
    """Equal and of the same types all the way down (a tuple is not a list here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        # zip(strict=) is Python 3.10+; jobs may run older Pythons (lengths checked).
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))  # noqa: B905
    return a == b


def serialize(value):
    """``(suffix, serializer, data)``: JSON when the value survives a JSON round trip
    unchanged, ``.npy`` for a NumPy array of plain numbers, else cloudpickle (pickle when
    the job has no cloudpickle)."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        text = None
    if text is not None and _same(json.loads(text), value):
        return ".json", "json", text.encode("utf-8")
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray) and not value.dtype.hasobject:
        buffer = io.BytesIO()
        numpy.save(buffer, value, allow_pickle=False)
        return ".npy", "npy", buffer.getvalue()
    try:
        import cloudpickle
    except ImportError:
        return ".pkl", "pickle", pickle.dumps(value, protocol=PICKLE_PROTOCOL)
    return ".pkl", "cloudpickle", cloudpickle.dumps(value, protocol=PICKLE_PROTOCOL)


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)


def write_manifest(directory: str, outputs=None, errors=None, error=None) -> dict:
    """Write ``manifest.json`` (last: it commits the files it lists); return it."""
    manifest = {
        "format": FORMAT,
        "python": platform.python_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "outputs": outputs or {},
        "errors": errors or {},
        "error": error,
    }
    os.makedirs(directory, exist_ok=True)
    _write(os.path.join(directory, MANIFEST), json.dumps(manifest, indent=1).encode("utf-8"))
    return manifest


def save_outputs(namespace, names, base=None, error=None) -> list:
    """Save ``namespace[name]`` for each of ``names``, then the manifest.

    Returns the names the namespace does not define (the caller fails the job for them).
    A value that cannot be serialized is recorded in the manifest's ``errors``.
    """
    base = base if base is not None else base_output_dir()
    if base is None:
        raise RuntimeError(
            "this job has no output location (AIP_MODEL_DIR is not set), so -o values "
            "cannot be saved; submit with --output_dir gs://BUCKET/PREFIX")
    directory = os.path.join(base, OUTPUTS_DIR)
    os.makedirs(directory, exist_ok=True)
    outputs, errors, missing = {}, {}, []
    for name in names if error is None else ():
        if name not in namespace:
            missing.append(name)
            errors[name] = (f"-o {name}: the program never defined {name!r}")
            continue
        try:
            suffix, serializer, data = serialize(namespace[name])
        except Exception as e:  # any failure of a user object's pickling is reported
            errors[name] = f"-o {name}: cannot be saved ({type(e).__name__}: {e})"
            continue
        filename = name + suffix
        _write(os.path.join(directory, filename), data)
        outputs[name] = {"file": filename, "serializer": serializer, "size": len(data),
                         "sha256": hashlib.sha256(data).hexdigest()}
    write_manifest(directory, outputs, errors, error)
    return missing


METRIC_FILE = "/tmp/hypertune/output.metrics"


def metric_file(environ=None) -> str:
    env = os.environ if environ is None else environ
    return env.get("CLOUD_ML_HP_METRIC_FILE") or METRIC_FILE


def _reported(path: str, name: str) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return False
    for line in lines:
        try:
            if name in json.loads(line):
                return True
        except ValueError:
            continue
    return False


def report_metric(namespace, name: str, environ=None):
    """Append ``namespace[name]`` to the hypertune metrics file; an error line or None."""
    env = os.environ if environ is None else environ
    path = metric_file(env)
    if name not in namespace:
        if _reported(path, name):
            return None
        return (f"the tuning metric {name!r} was never assigned by the program (and not "
                "reported with hypertune): assign it in the cell, e.g. "
                f"{name} = evaluate(model)")
    value = namespace[name]
    try:
        number = float(value)
    except (TypeError, ValueError):
        return (f"the tuning metric {name!r} is a {type(value).__name__}, not a number: "
                "assign a single number to it")
    if number != number or number in (float("inf"), float("-inf")):
        return f"the tuning metric {name!r} is {number}: the trial produced no usable value"
    entry = {"global_step": "0", name: str(number), "timestamp": time.time(),
             "trial": str(env.get("CLOUD_ML_TRIAL_ID", 0))}
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")
    return None


def describe(exc: BaseException) -> str:
    """One line for the manifest: ``ValueError: lr too large``."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1]}" if text else type(exc).__name__


def run_program(path: str, argv, names, base=None, metric=None) -> int:
    """Run ``path`` as ``__main__`` with ``argv``, then save ``names`` (and report
    ``metric`` for a tuning trial); the exit status.

    Without an output location (``base`` None and no ``AIP_MODEL_DIR``) the program runs
    and nothing is saved.
    """
    base = base if base is not None else base_output_dir()

    def save(namespace, error=None):
        return save_outputs(namespace, names, base, error) if base is not None else []

    sys.argv = [path, *argv]
    # As `python3 PROGRAM` would: imports resolve next to the program first.
    sys.path[0] = os.path.dirname(os.path.abspath(path))
    module = types.ModuleType("__main__")
    module.__file__ = path
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    # The program's classes live in a real __main__ module, so pickle finds them.
    sys.modules["__main__"] = module
    with open(path, "rb") as handle:
        code = compile(handle.read(), path, "exec")
    try:
        exec(code, module.__dict__)
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if status:
            save({}, error=f"the program exited with status {status}")
            return status
    except BaseException as e:
        # The program's own traceback, without this runner's frame.
        traceback.print_exception(type(e), e, e.__traceback__.tb_next if e.__traceback__
                                  else None)
        save({}, error=describe(e))
        return 1
    missing = save(module.__dict__)
    for name in missing:
        print(f"caliban: -o {name}: the program never defined {name!r}; define it in the "
              "cell, or drop -o " + name, file=sys.stderr)
    problem = report_metric(module.__dict__, metric) if metric else None
    if problem:
        print(f"caliban: {problem}", file=sys.stderr)
    return 1 if missing or problem else 0


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    names: list = []
    metric = None
    while args[:1] in (["--outputs"], ["--metric"]) and len(args) > 1:
        if args[0] == "--outputs":
            names = [n for n in args[1].split(",") if n]
        else:
            metric = args[1]
        args = args[2:]
    if not args:
        print("usage: caliban_outputs.py [--outputs A,B] [--metric NAME] PROGRAM [ARGS...]",
              file=sys.stderr)
        return 2
    return run_program(args[0], args[1:], names, metric=metric)


if __name__ == "__main__":
    sys.exit(main())
