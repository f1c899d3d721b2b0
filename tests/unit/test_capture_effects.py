"""Capture, part 2: swept parameters in place, setup done by calls, shell lines, await.

Each program is run with the interpreter, as the job runs it.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from test_capture import history, run

from caliban_jupyter.capture.program import CapturedProgram, capture
from caliban_jupyter.errors import CaptureError


def run_failing(program: CapturedProgram, tmp_path: Path, *args: str) -> str:
    script = tmp_path / "caliban_main.py"
    script.write_text(program.source)
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)
    assert done.returncode != 0, done.stdout
    return done.stderr


# -- parameters take the place of the notebook's definition (papermill's rule) ---------------


def test_a_swept_value_reaches_what_earlier_cells_computed_from_it(tmp_path: Path) -> None:
    # The case: every job printed `steps 10` and `{'lr': 0.1}` while labelled lr=0.5.
    cells = history('lr = 0.1\nsteps = int(1 / lr)\nopt = {"lr": lr}', 'grid = {"lr": [0.5]}')
    program = capture("print(lr, steps, opt)", cells, parameters=["lr"])
    assert run(program, tmp_path, "--lr", "0.5") == "0.5 2 {'lr': 0.5}\n"
    assert run(program, tmp_path, "--lr", "0.01") == "0.01 100 {'lr': 0.01}\n"
    assert run(program, tmp_path) == "0.1 10 {'lr': 0.1}\n"  # not passed: the notebook's


def test_every_plain_definition_is_replaced_and_updates_run_on_top(tmp_path: Path) -> None:
    cells = history(
        "lr = 0.1",
        "first_steps = int(1 / lr)",
        "lr = 0.2  # changed my mind",
        "lr = lr * 2",
        "def init():\n    global decay\n    decay = 0.9",
        "init()",
        "if True:\n    batch = 16",
    )
    program = capture("print(first_steps, lr, decay, batch)", cells,
                      parameters=["lr", "decay", "batch"])
    assert run(program, tmp_path) == "10 0.4 0.9 16\n"
    out = run(program, tmp_path, "--lr", "0.5", "--decay", "0.5", "--batch", "64")
    assert out == "2 1.0 0.5 64\n"


def test_a_definition_in_the_cell_is_replaced_there(tmp_path: Path) -> None:
    body = "# the cell's own default\nlr = 0.1\nsteps = int(1 / lr)\nprint(lr, steps)\n"
    program = capture(body, history(), parameters=["lr"])
    assert "# the cell's own default" in program.source
    assert run(program, tmp_path, "--lr", "0.5") == "0.5 2\n"
    # An update in the cell (a decay loop) still runs on the swept value.
    loop = "for _ in range(2):\n    lr *= 0.5\nprint(lr)"
    assert run(capture(loop, history("lr = 1.0"), parameters=["lr"]), tmp_path,
               "--lr", "4") == "1.0\n"


def test_statements_sharing_a_line_get_the_value_between_them(tmp_path: Path) -> None:
    program = capture("lr = 0.1; steps = int(1 / lr); print(steps)", history(),
                      parameters=["lr"])
    assert run(program, tmp_path, "--lr", "0.25") == "4\n"


# -- setup done by calls ----------------------------------------------------------------------


def test_setup_done_by_calls_is_captured_in_order(tmp_path: Path) -> None:
    cells = history(
        "import random, os, warnings",
        "random.seed(42)",
        'os.environ["CALIBAN_X"] = "on"',
        'warnings.filterwarnings("ignore", message="caliban")',
        "cfg = {'lr': 1}\ndef setup(c):\n    c['ready'] = True",
        "setup(cfg)",
        "counter = 1\ncounter += 1",
        "import json\nprint(cfg)\ndisplay(cfg)",  # showing is not an effect (display: IPython)
    )
    body = ("print(random.random(), os.environ['CALIBAN_X'], warnings.filters[0][1].pattern,"
            " cfg, counter)")
    program = capture(body, cells)
    expected = random.Random(42).random()
    assert run(program, tmp_path) == f"{expected} on caliban {{'lr': 1, 'ready': True}} 2\n"
    source = program.source
    assert source.index("random.seed(42)") < source.index('os.environ["CALIBAN_X"]') \
        < source.index("warnings.filterwarnings") < source.index("setup(cfg)")
    assert "print(cfg)" not in source and "display" not in source and "json" not in source


def test_module_state_is_shared_by_every_import_of_it(tmp_path: Path) -> None:
    cells = history(
        "import random",
        "random.seed(7)",
        "from random import seed\nseed(8)",  # a function imported from the module acts on it
        "import logging",
        "logging.getLogger('caliban.t').setLevel(13)",
    )
    body = "import random\nimport logging.handlers\nprint(random.random(), " \
           "logging.getLogger('caliban.t').level)"
    program = capture(body, cells)
    assert run(program, tmp_path) == f"{random.Random(8).random()} 13\n"


def test_a_notebook_function_acts_on_the_globals_it_reads(tmp_path: Path) -> None:
    cells = history(
        "registry = []",
        "def add(name):\n    registry.append(name)",
        "def init():\n    add('a')\n    add('b')",
        "init()",
        "unrelated = 1\nprint(unrelated)",
    )
    program = capture("print(registry)", cells)
    assert run(program, tmp_path) == "['a', 'b']\n"
    assert "unrelated" not in program.source


def test_calls_capture_cannot_see_into_are_named_with_capture_all(tmp_path: Path) -> None:
    cells = history(
        "from os import getcwd as mystery",
        "mystery()",
        "exec('z = 1')",
        "globals()['w'] = 2",
        "x = 3",
    )
    program = capture("print(x)", cells)
    assert run(program, tmp_path) == "3\n"
    assert program.notes == (
        "In[2] line 1: `mystery()` was left out (what `mystery()` changes is unknown); if "
        "the job needs it, use --capture all",
        "In[3] line 1: `exec('z = 1')` was left out (`exec()` can change any variable); if "
        "the job needs it, use --capture all",
        "In[4] line 1: `globals()['w'] = 2` was left out (`globals()` can set any variable); "
        "if the job needs it, use --capture all",
    )
    assert capture("print(x)", cells, mode="all").notes == ()


def test_an_effect_that_cannot_run_in_the_job_is_left_out_with_a_note(tmp_path: Path) -> None:
    cells = history("import random", "files = !ls", "random.shuffle(files)", "random.seed(1)")
    program = capture("print(random.random())", cells)
    assert run(program, tmp_path) == f"{random.Random(1).random()}\n"
    assert "In[3] line 1: `random.shuffle(files)` was left out: it uses files, which only a " \
           "magic or shell command sets" in program.notes
    # Changing an object the cell needs with such a value is still an error.
    with pytest.raises(CaptureError, match="files"):
        capture("print(cfg)", history("cfg = []", "files = !ls", "cfg.extend(files)"))


# -- shell lines ------------------------------------------------------------------------------


def test_shell_lines_of_the_cell_run_with_ipythons_expansion(tmp_path: Path) -> None:
    cells = history("x = 5\ny = 'why'", "unused = 0")
    body = ("# prepare\n!echo {x} $y {x + 1} $$y '$y'\nfor n in range(2):\n    !echo n=$n\n"
            "!echo {nope} {x}\nprint('after')")
    program = capture(body, cells)
    assert "# prepare" in program.source
    assert "unused" not in program.source
    # As in IPython: $$ is a literal $, '$y' is left to the shell, and a name that does not
    # exist leaves the whole line unexpanded.
    assert run(program, tmp_path) == "5 why 6 $y\nn=0\nn=1\n{nope} {x}\nafter\n"


@pytest.mark.parametrize("line", [
    "echo {x} $y {x + 1} $$y '$y'", "awk '{print $1}' {x}", "echo {nope} {x}",
    "echo {x!r:>4} {s[1:3]} $s.upper", "echo {", "cp $s.txt {len(s)}.txt", "echo $nope",
])
def test_expansion_is_ipythons(line: str) -> None:
    from IPython.utils.text import DollarFormatter

    from caliban_jupyter.capture.shell import SHELL_HELPERS

    namespace = {"x": 5, "y": "why", "s": "text"}
    try:
        expected = DollarFormatter().vformat(line, args=[], kwargs=namespace)
    except Exception:  # what IPython's var_expand does
        expected = line
    helpers: dict = {}
    exec(SHELL_HELPERS, helpers)
    assert helpers["_caliban_expand"](line, dict(namespace)) == expected


def test_pip_and_bash_cells_run_and_a_failure_stops_the_job(tmp_path: Path) -> None:
    cells = history("%%bash\necho from bash > made.txt", "x = 1")
    program = capture("%pip --version\nprint(open('made.txt').read().strip(), x)", cells,
                      mode="all")
    out = run(program, tmp_path)
    assert out.startswith("pip ") and out.endswith("from bash 1\n")
    stderr = run_failing(capture("!exit 3\nprint('never')", history()), tmp_path)
    assert "CalledProcessError" in stderr and "exit 3" in stderr and "never" not in stderr


def test_magics_in_the_cell_are_listed_and_left_as_comments(tmp_path: Path) -> None:
    program = capture("%matplotlib inline\nx = !ls\nprint(1)", history())
    assert "# not run in the job: %matplotlib inline" in program.source
    assert run(program, tmp_path) == "1\n"
    assert [n.split(":")[0] for n in program.notes] == ["line 2 of this cell",
                                                        "line 3 of this cell"]


# -- top-level await --------------------------------------------------------------------------


def test_top_level_await_runs_in_one_event_loop(tmp_path: Path) -> None:
    cells = history(
        "import asyncio\nasync def double(v):\n    await asyncio.sleep(0)\n    return 2 * v",
        "base = await double(10)",
        "def show():\n    print('shown', value, base)",
    )
    body = ("# awaits at top level, as IPython allows\nvalue = await double(21)\nshow()\n"
            "loop = asyncio.get_running_loop()\nprint(await double(1))")
    program = capture(body, cells, parameters=["base"])
    assert "# awaits at top level" in program.source
    assert run(program, tmp_path) == "shown 42 20\n2\n"
    assert run(program, tmp_path, "--base", "3") == "shown 42 3\n2\n"
