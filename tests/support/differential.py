"""Differential test of the capture on real notebooks (issue 21).

For each chosen *late* cell of a notebook:

* the kernel side: the notebook runs in a real kernel (jupyter_client) up to and including
  that cell; the cell's stdout and its ``text/plain`` result are what it printed;
* the job side: in a kernel that ran the earlier cells, the cell goes through
  ``%%caliban_cloud --nogpu --backend local --dry_run --show_program``; the program it
  shows runs on its own (``python3 PROGRAM ARGS`` in a fresh process, in the notebook's
  directory, as the job would).

Outputs are compared with addresses and timings masked; each cell is ``same``,
``different`` (the job would print other text or fail), ``refused`` (the magic would not
submit it: its message is kept) or ``unstable`` (the kernel side printed two different
texts in two runs: no verdict). The kernel side runs twice: once straight through, once
interleaved with the dry runs (the cell itself runs right after its dry run), so every
difference reported is one the kernel reproduces.

A sweep submits a late cell with ``--experiment_config`` over a constant of the notebook;
each job's program (with its own args) must print what the kernel prints when the
notebook's definition of that constant is given the swept value.

The package under test is the one on ``PYTHONPATH`` (``pythonpath`` argument): the kernels
import it from there, so one harness measures any checkout.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

MAGIC = "%%caliban_cloud --nogpu --backend local --dry_run --show_program"
#: Where the capture's program starts the submitted cell (capture/render.py).
CELL_MARK = "# --- the %%caliban_cloud cell ---"

_MASKS = [
    (re.compile(r"0x[0-9a-fA-F]+"), "0xADDR"),
    # timings: "0.123s", "12.3 ms", "1.2 seconds", "Wall time: ..."
    (re.compile(r"\d+(?:\.\d+)?(?:e-?\d+)?\s*(?:s|ms|µs|us|ns|sec|secs|seconds)\b"), "T"),
    (re.compile(r"(?m)^(CPU times|Wall time):.*$"), r"\1: T"),
]


def mask(text: str) -> str:
    """``text`` with addresses and timings replaced, trailing spaces and blank ends gone."""
    for pattern, repl in _MASKS:
        text = pattern.sub(repl, text)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


@dataclass
class Sweep:
    """A late cell submitted over ``name`` (a constant the notebook defines)."""

    cell: int
    name: str
    values: list[Any]


@dataclass
class CellResult:
    notebook: str
    cell: int
    status: str  # same | different | refused | unstable | error
    expected: str = ""
    got: str = ""
    message: str = ""
    capture_seconds: float | None = None
    replayed_statements: int | None = None
    replayed_cells: int | None = None
    extra_lines: int = 0  # lines the program printed before the cell's own output
    sweep: str | None = None  # "name=value" for a sweep's job
    program: str = ""


# ----------------------------------------------------------------------------- kernel


class Kernel:
    """A real IPython kernel run by ``python`` in ``cwd`` with ``env``."""

    def __init__(self, python: str, cwd: Path, env: Mapping[str, str]) -> None:
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import KernelSpec

        self.km = KernelManager()
        # This interpreter, whatever kernel specs the machine has installed.
        self.km._kernel_spec = KernelSpec(
            argv=[python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="python3", language="python")
        self.km.start_kernel(cwd=str(cwd), env=dict(env), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)

    def run(self, code: str, *, store_history: bool = True,
            timeout: float = 600) -> dict[str, Any]:
        """Run ``code``; its stdout, stderr, ``text/plain`` result, error and seconds."""
        out: dict[str, Any] = {"stdout": "", "stderr": "", "result": None, "error": None}

        def hook(msg: dict) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out[content["name"]] += content["text"]
            elif kind == "execute_result":
                out["result"] = content["data"].get("text/plain")
            elif kind == "error":
                out["error"] = f"{content['ename']}: {content['evalue']}"

        start = time.perf_counter()
        reply = self.kc.execute_interactive(code, store_history=store_history, timeout=timeout,
                                            output_hook=hook, allow_stdin=False)
        out["seconds"] = time.perf_counter() - start
        if reply["content"]["status"] == "error" and out["error"] is None:
            c = reply["content"]
            out["error"] = f"{c.get('ename')}: {c.get('evalue')}"
        return out

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def printed(run: Mapping[str, Any]) -> str:
    """What a cell printed, as a program printing its last expression would."""
    text = run["stdout"]
    if run.get("result") is not None:
        text += run["result"] + "\n"
    return text


# ------------------------------------------------------------------------ notebooks


def code_cells(nb_path: Path) -> list[str]:
    nb = nbformat.read(nb_path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def printing_body(source: str) -> str:
    """``source`` with its last expression printed as IPython shows it (``text/plain`` is
    ``IPython.lib.pretty.pretty``), so a program prints what the cell displays."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    if not tree.body or not isinstance(tree.body[-1], ast.Expr) or \
            source.rstrip().endswith(";"):
        return source
    last = tree.body[-1]
    if isinstance(last.value, ast.Call) and isinstance(last.value.func, ast.Name) and \
            last.value.func.id == "print":
        return source
    lines = source.splitlines()
    start, end = last.lineno - 1, last.end_lineno
    if last.col_offset:  # shares a line with an earlier statement: leave it
        return source
    value = ast.get_source_segment(source, last.value)
    # None is not displayed by IPython. pandas shows up to 20 columns in a kernel but fits
    # them to the terminal elsewhere (display.max_columns 0): the kernel's default here.
    wrapped = (f"__caliban_v = ({value})\nif __caliban_v is not None:\n"
               "    if 'pandas' in __import__('sys').modules and \\\n"
               "            __import__('pandas').get_option('display.max_columns') == 0:\n"
               "        __import__('pandas').set_option('display.max_columns', 20)\n"
               f"    print(__import__('IPython.lib.pretty').lib.pretty.pretty(__caliban_v))")
    return "\n".join([*lines[:start], wrapped, *lines[end:]])


def _workdir(nb_path: Path) -> Path:
    """A private copy of the notebook's directory (notebooks write figures and files)."""
    work = Path(tempfile.mkdtemp(prefix="caliban-corpus."))
    shutil.copytree(nb_path.parent, work / "nb", dirs_exist_ok=True)
    return work / "nb"


def kernel_env(pythonpath: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PROJECT_ID", "REGION", "CALIBAN_BACKEND", "CALIBAN_ENDPOINT",
                        "CALIBAN_REGISTRY", "GOOGLE_APPLICATION_CREDENTIALS")}
    env.update({"PYTHONPATH": pythonpath, "MPLBACKEND": "Agg", "CALIBAN_HOME": str(home),
                "NO_GCE_CHECK": "true", "PYTHONHASHSEED": "0",
                "CALIBAN_BASE_IMAGE": os.environ.get("CALIBAN_TEST_BASE_IMAGE",
                                                     "caliban-base:bookworm-py3-nb")})
    return env


def reference_run(nb_path: Path, python: str, env: Mapping[str, str], *,
                  upto: int | None = None, replace: tuple[str, Any] | None = None,
                  timeout: float = 600) -> list[dict[str, Any]]:
    """Every code cell (up to ``upto``) run straight through in a fresh kernel; with
    ``replace=(name, value)`` the notebook's first plain definition of ``name`` is given
    ``value``."""
    cells = code_cells(nb_path)
    if replace is not None:
        cells = with_constant(cells, *replace)
    cwd = _workdir(nb_path)
    kernel = Kernel(python, cwd, env)
    runs = []
    try:
        for source in cells[: None if upto is None else upto + 1]:
            runs.append(kernel.run(source, timeout=timeout))
    finally:
        kernel.close()
        shutil.rmtree(cwd.parent, ignore_errors=True)
    return runs


def with_constant(cells: Sequence[str], name: str, value: Any) -> list[str]:
    """``cells`` with the first top-level ``name = ...`` given ``value``."""
    out = list(cells)
    pattern = re.compile(rf"(?m)^{re.escape(name)}\s*=\s*[^=\n].*$")
    for i, source in enumerate(out):
        if pattern.search(source):
            out[i] = pattern.sub(f"{name} = {value!r}", source, count=1)
            return out
    raise ValueError(f"no top-level `{name} = ...` in the notebook")


def replay_counts(program: str) -> tuple[int | None, int | None]:
    """Top-level statements and cells the program replays before the submitted cell."""
    head, sep, _ = program.partition(CELL_MARK)
    if not sep:
        return None, None
    cells = len(re.findall(r"(?m)^# --- In\[\d+\]", head))
    first = re.search(r"(?m)^# --- In\[\d+\]", head)
    if first is None:
        return 0, 0
    try:
        body = ast.parse(head[first.start():]).body
    except SyntaxError:
        return None, cells
    # Not replayed code: the loading of shipped values and the log's banners.
    own = ("_caliban_load(", "print('[caliban]")
    return sum(1 for s in body if not ast.unparse(s).startswith(own)), cells


_EXTRACT = """\
def __caliban_extract(n):
    import json
    shown = get_ipython().user_ns['_oh'].get(n)
    plan = getattr(shown, 'plan', None)
    if plan is None:
        print(json.dumps(None))
        return
    print(json.dumps({'program': plan.program,
                      'args': [list(s.args) for s in plan.specs]}))
__caliban_extract(%d)
del __caliban_extract
"""


def _parse_dry_run(text: str) -> dict[str, Any] | None:
    """The program and each job's args from the DryRun's text (when ``Out`` has none)."""
    import shlex

    head, sep, program = text.partition("\nProgram (")
    if not sep:
        return None
    args = [shlex.split(a) if a != "(none)" else []
            for a in re.findall(r"(?m)^  args:\s+(.*)$", head)]
    return {"program": program.split("\n", 1)[1] + "\n", "args": args}


def dry_run(kernel: Kernel, body: str, config: Mapping[str, list] | None,
            timeout: float) -> dict[str, Any]:
    """Send ``body`` through the magic in ``kernel``; the program and args, or the refusal."""
    flags = MAGIC
    if config is not None:
        kernel.run(f"__caliban_grid = {dict(config)!r}", store_history=False)
        flags += " --experiment_config __caliban_grid"
    count = json.loads(kernel.run("print(get_ipython().execution_count)",
                                  store_history=False)["stdout"])
    run = kernel.run(f"{flags}\n{body}", timeout=timeout)
    found = None
    if run["result"] is not None:
        extracted = kernel.run(_EXTRACT % count, store_history=False)
        try:
            found = json.loads(extracted["stdout"].strip().splitlines()[-1])
        except (ValueError, IndexError):
            found = None
        if found is None:
            found = _parse_dry_run(run["result"])
    if found is None:
        message = run["error"] or run["stderr"].strip() or run["stdout"].strip() \
            or "no program shown"
        return {"refused": message.strip().splitlines()[-1] if message else message,
                "refusal": message, "seconds": run["seconds"]}
    return {**found, "seconds": run["seconds"], "stderr": run["stderr"]}


def run_program(program: str, args: Sequence[str], cwd: Path, python: str,
                env: Mapping[str, str], timeout: float) -> subprocess.CompletedProcess:
    path = cwd / "caliban_main.py"
    path.write_text(program)
    try:
        return subprocess.run([python, path.name, *args], cwd=cwd, env=dict(env),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(e.cmd, -9, e.stdout or "", f"timed out after "
                                           f"{timeout}s")
    finally:
        path.unlink(missing_ok=True)


def compare(expected: str, got: str) -> tuple[bool, int]:
    """Whether the program printed the cell's output (after what it replayed), and how
    many lines it printed before it."""
    want, have = mask(expected), mask(got)
    if have == want:
        return True, 0
    if want and (have.endswith("\n" + want)):
        return True, have[: -len(want)].count("\n")
    return False, 0


# ---------------------------------------------------------------------- the test itself


def choose_late_cells(reference: Sequence[Mapping[str, Any]], cells: Sequence[str],
                      count: int = 4) -> list[int]:
    """Up to ``count`` cells of the notebook's second half that print something, run
    without error and are not magics, spread over it."""
    n = len(cells)
    fit = [i for i in range(max(1, n // 2), n)
           if i < len(reference) and reference[i]["error"] is None
           and mask(printed(reference[i])) and not cells[i].lstrip().startswith(("%", "!"))]
    if len(fit) <= count:
        return fit
    step = (len(fit) - 1) / (count - 1)
    return sorted({fit[round(k * step)] for k in range(count)})


@dataclass
class NotebookReport:
    notebook: str
    cells: list[CellResult] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""  # the run could not be made (e.g. the extension did not load)

    def counts(self) -> dict[str, int]:
        out = {"same": 0, "different": 0, "refused": 0, "unstable": 0, "error": 0}
        for c in self.cells:
            out[c.status] += 1
        return out


def differential(nb_path: Path, *, python: str = sys.executable, pythonpath: str,
                 late: Sequence[int] | None = None, sweeps: Iterable[Sweep] = (),
                 count: int = 4, timeout: float = 600) -> NotebookReport:
    """Run the differential test on one notebook; see the module docstring."""
    started = time.perf_counter()
    name = f"{nb_path.parent.name}/{nb_path.name}"
    python = os.path.abspath(python)  # kernels and programs run in other directories
    report = NotebookReport(name)
    home = Path(tempfile.mkdtemp(prefix="caliban-corpus-home."))
    env = kernel_env(pythonpath, home)
    cells = code_cells(nb_path)
    sweeps = list(sweeps)
    try:
        reference = reference_run(nb_path, python, env, timeout=timeout)
        chosen = sorted(set(late if late is not None else
                            choose_late_cells(reference, cells, count)))
        chosen = [i for i in chosen if reference[i]["error"] is None]
        swept = {s.cell for s in sweeps}
        wanted = sorted(set(chosen) | swept)
        cwd = _workdir(nb_path)
        kernel = Kernel(python, cwd, env)
        dry: dict[int, dict[str, Any]] = {}
        dry_sweep: dict[int, dict[str, Any]] = {}  # by index in ``sweeps``
        again: dict[int, str] = {}
        try:
            loaded = kernel.run("%load_ext caliban_jupyter", store_history=False)
            if loaded["error"] or "Error" in loaded["stderr"]:
                raise RuntimeError(f"%load_ext caliban_jupyter failed with PYTHONPATH="
                                   f"{pythonpath}: {loaded['error'] or loaded['stderr']}")
            for i, source in enumerate(cells[: max(wanted, default=-1) + 1]):
                if i in wanted:
                    body = printing_body(source)
                    if i in chosen:
                        dry[i] = dry_run(kernel, body, None, timeout)
                    for k, s in enumerate(sweeps):
                        if s.cell == i:
                            dry_sweep[k] = dry_run(kernel, body, {s.name: s.values}, timeout)
                run = kernel.run(source, timeout=timeout)
                again[i] = printed(run) if run["error"] is None else run["error"]
        finally:
            kernel.close()
        for i in chosen:
            report.cells.append(_judge(name, i, printed(reference[i]), again.get(i, ""),
                                       dry[i], cwd, python, env, timeout))
        for k, s in enumerate(sweeps):
            i = s.cell
            for job, value in enumerate(s.values):
                expected = printed(reference_run(nb_path, python, env, upto=i,
                                                 replace=(s.name, value),
                                                 timeout=timeout)[i])
                d = dict(dry_sweep[k])
                if "args" in d:
                    d["args"] = [d["args"][job]] if job < len(d["args"]) else [[]]
                result = _judge(name, i, expected, expected, d, cwd, python, env, timeout)
                result.sweep = f"{s.name}={value!r}"
                report.cells.append(result)
        shutil.rmtree(cwd.parent, ignore_errors=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


def _judge(name: str, i: int, expected: str, again: str, dry: Mapping[str, Any], cwd: Path,
           python: str, env: Mapping[str, str], timeout: float) -> CellResult:
    result = CellResult(name, i, "same", expected=expected,
                        capture_seconds=dry.get("seconds"))
    if mask(again) != mask(expected):
        result.status, result.got = "unstable", again
        result.message = "the kernel printed other text on its second run"
        return result
    if "refused" in dry:
        result.status, result.message = "refused", dry["refusal"]
        return result
    result.program = dry["program"]
    result.replayed_statements, result.replayed_cells = replay_counts(dry["program"])
    args = dry["args"][0] if dry["args"] else []
    proc = run_program(dry["program"], args, cwd, python, env, timeout)
    result.got = proc.stdout
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()
        result.status = "different"
        result.message = f"the program failed: {tail[-1] if tail else proc.returncode}"
        return result
    ok, extra = compare(expected, proc.stdout)
    result.extra_lines = extra
    if not ok:
        result.status = "different"
        result.message = first_difference(expected, proc.stdout)
    return result


def first_difference(expected: str, got: str) -> str:
    want, have = mask(expected).splitlines(), mask(got).splitlines()
    tail = have[-len(want):] if want and len(have) >= len(want) else have
    for a, b in zip(want, tail, strict=False):
        if a != b:
            return f"expected {a[:120]!r}, got {b[:120]!r}"
    return f"expected {len(want)} lines, got {len(have)}"
