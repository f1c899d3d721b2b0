"""Runs in the job: execute a notebook with a real kernel, as papermill does.

Usage inside the image::

    python3 caliban_notebook.py --outputs A,B [--metric NAME] NOTEBOOK -- [--name value ...]

The job's ``--name value`` arguments become parameters, injected in a cell tagged
``injected-parameters`` right after the cell tagged ``parameters`` (at the top when no
cell is tagged), so every later cell uses them: papermill's convention. The notebook runs
in an IPython kernel (nbclient + ipykernel), so ``!cmd``, ``%magics`` and ``%%bash`` work
as in Jupyter. Each cell's outputs go to the job's log as they arrive (papermill's
``--log-output``), and the executed notebook is written to
``{output location}/notebook.ipynb``, also when a cell fails (that cell marked, and a
note at the top linking to it). Then the values named by ``--outputs`` are saved from the
kernel (see ``caliban_outputs.py``), and with ``--metric NAME`` (a tuning trial) the
kernel's ``NAME`` is reported to the tuning service.

papermill itself is not needed: nbclient is what papermill runs on, and the ``-o`` values
must be read from the live kernel after the last cell, which papermill does not offer.
Needs nbclient, nbformat and ipykernel in the job (Debian's packages suffice). Python 3.8+.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

import caliban_outputs  # noqa: E402  (the sibling file, in the job's working directory)

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
ERROR_TAG = "papermill-error-cell-tag"  # papermill's tag, so tools that know it find it
ERROR_ANCHOR = "caliban-error-cell"
# The executed notebook is saved at most this often while cells run (and always at the end),
# so a cancelled or killed job still leaves its progress behind.
SAVE_EVERY_SECONDS = 30.0
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def parse_parameters(args):
    """``--name value`` / ``--name=value`` / bare ``--flag`` (True) -> ``{name: value}``.

    Values are Python literals when they parse as one (``5``, ``0.1``, ``'a'``, ``[1]``),
    else strings. Arguments that are not ``--identifier`` are reported and skipped.
    """
    params, skipped = {}, []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("--") or arg == "--":
            skipped.append(arg)
            continue
        name, eq, text = arg[2:].partition("=")
        if not eq:
            if i < len(args) and not args[i].startswith("--"):
                text = args[i]
                i += 1
                arg = f"{arg} {text}"
            else:
                text = None
        if not name.isidentifier():
            skipped.append(arg)
            continue
        params[name] = True if text is None else _literal(text)
    return params, skipped


def _literal(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text


def inject_parameters(nb, params):
    """Insert the ``injected-parameters`` cell (replacing an earlier one); return its index."""
    import nbformat

    nb.cells = [c for c in nb.cells
                if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]
    lines = ["# Parameters"] + [f"{k} = {v!r}" for k, v in params.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines) + "\n")
    cell.metadata["tags"] = [INJECTED_TAG]
    tagged = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
              and PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])]
    where = tagged[0] + 1 if tagged else 0
    nb.cells.insert(where, cell)
    return where


#: Seconds a cell's outputs may trail its reply (nbclient's iopub_timeout).
IOPUB_TIMEOUT = 120


def _log(text, stream=None):
    stream = stream or sys.stdout
    stream.write(text if text.endswith("\n") else text + "\n")
    stream.flush()


def log_output(output):
    """Write one cell output to the job's log (stdout, or stderr for errors)."""
    kind = output.get("output_type")
    if kind == "stream":
        _log(output.get("text", ""), sys.stderr if output.get("name") == "stderr" else None)
    elif kind in ("execute_result", "display_data"):
        text = output.get("data", {}).get("text/plain")
        if text:
            _log(text)
    elif kind == "error":
        _log(_ANSI.sub("", "\n".join(output.get("traceback", []))) or
             f"{output.get('ename')}: {output.get('evalue')}", sys.stderr)


def _client_class():
    from nbclient import NotebookClient

    class LoggingClient(NotebookClient):
        """nbclient's client, echoing each output to the log as it arrives."""

        quiet = False  # True while the -o values are saved: not the notebook's output

        def output(self, outs, msg, display_id, cell_index):
            out = super().output(outs, msg, display_id, cell_index)
            if out is not None and not self.quiet:
                log_output(out)
            return out

    return LoggingClient


def mark_error(nb, index, where, message):
    """Mark the failing cell as papermill does: a note at the top, an anchor before it."""
    import nbformat

    anchor = nbformat.v4.new_markdown_cell(
        f'<span id="{ERROR_ANCHOR}" style="color:red">The job stopped at the next cell: '
        f"{message}</span>")
    anchor.metadata["tags"] = [ERROR_TAG]
    nb.cells.insert(index, anchor)
    nb.cells[index + 1].metadata.setdefault("caliban", {})["failed"] = True
    top = nbformat.v4.new_markdown_cell(
        f'<span style="color:red; font-size:1.5em">An exception was encountered at '
        f'<a href="#{ERROR_ANCHOR}">{where}</a>: {message}</span>')
    top.metadata["tags"] = [ERROR_TAG]
    nb.cells.insert(0, top)


def _cell_error(cell):
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return f"{out.get('ename')}: {out.get('evalue')}"
    return None


def execute(path, params, names, base=None, kernel_name="python3", metric=None):
    """Execute the notebook at ``path``; return the job's exit status (0 when it ran).

    ``metric`` (a tuning trial): the kernel's variable of that name is then reported to
    the tuning service (``caliban_outputs.report_metric``)."""
    import nbformat

    base = base if base is not None else caliban_outputs.base_output_dir()
    nb = nbformat.read(path, as_version=4)
    if params:  # as papermill: no parameters, no injected cell
        inject_parameters(nb, params)
    destination = os.path.join(base, caliban_outputs.NOTEBOOK) if base else None
    last_save = [time.monotonic()]

    def save(force=False):
        if destination and (force or time.monotonic() - last_save[0] >= SAVE_EVERY_SECONDS):
            os.makedirs(base, exist_ok=True)
            nbformat.write(nb, destination)
            last_save[0] = time.monotonic()

    # nbclient waits only iopub_timeout (4 s by default) for a cell's last outputs after
    # its reply, then drops them with a warning: on a busy machine a job's log lost its
    # last lines. A job waits longer, and fails rather than lose output silently.
    client = _client_class()(
        nb, timeout=None, kernel_name=kernel_name, allow_errors=False,
        iopub_timeout=IOPUB_TIMEOUT, raise_on_iopub_timeout=True,
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}})
    failed = None  # (cell index, "In [n]", message)
    status = 0
    with client.setup_kernel():
        info = client.wait_for_reply(client.kc.kernel_info())
        nb.metadata["language_info"] = info["content"]["language_info"]
        for index, cell in enumerate(list(nb.cells)):
            if cell.cell_type != "code":
                continue
            _log(f"[caliban] executing cell {index}", sys.stderr)
            try:
                client.execute_cell(cell, index)
            except Exception as e:  # CellExecutionError, a dead kernel, a timeout
                where = f"In [{cell.get('execution_count') or index}]"
                failed = (index, where, _cell_error(cell) or caliban_outputs.describe(e))
                break
            finally:
                save()
        missing = []
        problem = None
        if failed is None and (base is not None or metric):
            try:
                missing, problem = _save_from_kernel(client, nb, names, base, metric)
            except Exception as e:
                _log(f"[caliban] could not save the -o values: {e}", sys.stderr)
                status = 1
        if problem:
            _log(f"caliban: {problem}", sys.stderr)
            status = 1
    if failed is not None:
        index, where, message = failed
        mark_error(nb, index, where, message)
        _log(f"[caliban] cell {where} failed: {message}", sys.stderr)
        if base is not None:
            caliban_outputs.save_outputs({}, names, base, error=f"{where}: {message}")
        status = 1
    elif missing:
        status = 1
        for name in missing:
            _log(f"caliban: -o {name}: the notebook never defined {name!r}", sys.stderr)
    save(force=True)
    if destination:
        _log(f"[caliban] executed notebook written to {destination}", sys.stderr)
    return status


def _save_from_kernel(client, nb, names, base, metric=None):
    """Save ``names`` from the kernel's globals (in a cell removed afterwards) and report
    ``metric``; the names the notebook never defined, and why the metric was not
    reported (None when it was, or none was asked for)."""
    import nbformat

    code = (f"import sys as _caliban_sys\n_caliban_sys.path.insert(0, {_HERE!r})\n"
            "import caliban_outputs as _caliban_outputs\n")
    if base is not None:
        code += (f"print('CALIBAN-MISSING', _caliban_outputs.save_outputs(globals(), "
                 f"{list(names)!r}, {base!r}))\n")
    if metric:
        code += (f"print('CALIBAN-METRIC', repr(_caliban_outputs.report_metric(globals(), "
                 f"{metric!r})))\n")
    cell = nbformat.v4.new_code_cell(code)
    nb.cells.append(cell)
    client.quiet = True
    try:
        client.execute_cell(cell, len(nb.cells) - 1)
    except Exception:  # nothing was saved: say why in the log, fail the job
        log_output({"output_type": "error", "traceback": next(
            (o.get("traceback", []) for o in cell.get("outputs", [])
             if o.get("output_type") == "error"), [])})
        raise
    finally:
        client.quiet = False
        nb.cells.remove(cell)
    missing, problem = [], None
    for out in cell.get("outputs", []):
        for line in out.get("text", "").splitlines():
            if line.startswith("CALIBAN-MISSING "):
                missing = ast.literal_eval(line[len("CALIBAN-MISSING "):])
            elif line.startswith("CALIBAN-METRIC "):
                problem = ast.literal_eval(line[len("CALIBAN-METRIC "):])
    return missing, problem


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    names = []
    metric = None
    while args[:1] in (["--outputs"], ["--metric"]) and len(args) > 1:
        if args[0] == "--outputs":
            names = [n for n in args[1].split(",") if n]
        else:
            metric = args[1]
        args = args[2:]
    if not args:
        print("usage: caliban_notebook.py [--outputs A,B] [--metric NAME] NOTEBOOK -- "
              "[--name value ...]", file=sys.stderr)
        return 2
    path, rest = args[0], args[1:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    params, skipped = parse_parameters(rest)
    for arg in skipped:
        _log(f"[caliban] argument {arg!r} is not a --name value parameter: ignored",
             sys.stderr)
    if params:
        _log("[caliban] parameters: " + ", ".join(f"{k}={v!r}" for k, v in params.items()),
             sys.stderr)
    return execute(path, params, names, metric=metric)


if __name__ == "__main__":
    sys.exit(main())
