"""Capture, part 3: the job sees, for every name the cell reads, the value the kernel holds.

Each test runs the cells as a kernel does (one namespace, ``__name__ == "__main__"``), then
captures the cell against that history and namespace, runs the program as the job runs it
and compares what it prints with what the cell prints in the "kernel". The generic cases are
those of issue 21 (findings 1, 2 and 4); the kernel-only ones are in
tests/kernel/test_capture_state_kernel.py.
"""

from __future__ import annotations

import contextlib
import io
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_capture import history, run

from caliban_jupyter.capture.program import capture
from caliban_jupyter.errors import CaptureError


def kernel(*cells: str) -> tuple[list[str], dict]:
    """Run ``cells`` in one namespace as a kernel does; the history and the namespace."""
    namespace: dict = {"__name__": "__main__"}
    for cell in cells:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(cell, "<cell>", "exec"), namespace)
    return history(*cells), namespace


def in_kernel(body: str, namespace: dict) -> str:
    """What the cell prints when the kernel runs it (after the capture: it changes state)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(body, "<cell>", "exec"), namespace)
    return out.getvalue()


def same(body: str, cells: tuple[str, ...], tmp_path: Path, **options) -> str:
    """Capture ``body`` after ``cells``; assert the job prints what the kernel prints."""
    past, namespace = kernel(*cells)
    program = capture(body, past, values=namespace, **options)
    job = run(program, tmp_path)
    assert job == in_kernel(body, namespace), program.source
    return program.source


# -- finding 1: effects of calls inside assignments -------------------------------------------


def test_a_generator_advanced_in_an_assignment_is_replayed(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    cells = history("import numpy as np", "rng = np.random.default_rng(42)",
                    "noise = rng.normal(size=100)")
    program = capture("X = rng.normal(size=3)\nprint(X.round(6).tolist())", cells)
    rng = np.random.default_rng(42)
    rng.normal(size=100)
    assert run(program, tmp_path) == f"{rng.normal(size=3).round(6).tolist()}\n"


def test_a_fit_inside_an_assignment_is_replayed(tmp_path: Path) -> None:
    cells = history(
        "class Reg:\n    def fit(self, X, y):\n        self.coef_ = sum(y) / sum(X)\n"
        "        return self\n    def predict(self, X):\n"
        "        return [self.coef_ * x for x in X]",
        "reg = Reg()",
        "y_pred = reg.fit([1, 2], [3, 6]).predict([5])",
    )
    assert run(capture("print(reg.coef_)", cells), tmp_path) == "3.0\n"


def test_appends_and_in_place_operators_inside_other_statements_are_replayed(
        tmp_path: Path) -> None:
    cells = history("items = []", "n = items.append(1) or len(items)",
                    "import array\nbuf = array.array('i', [1])", "buf *= 2")
    assert run(capture("print(items, list(buf))", cells), tmp_path) == "[1] [1, 1]\n"


def test_with_values_a_generator_is_shipped_where_the_kernel_left_it(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    source = same("X = rng.normal(size=3)\nprint(X.round(6).tolist())",
                  ("import numpy as np", "rng = np.random.default_rng(42)",
                   "noise = rng.normal(size=100)"), tmp_path)
    assert "noise" not in source


# -- finding 2: global random state used inside libraries -------------------------------------


def test_global_numpy_random_state_starts_where_the_kernels_was(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    # An earlier draw whose result a later cell rebinds still advanced the state.
    same("print(np.random.rand())",
         ("import numpy as np", "np.random.seed(0)", "w = np.random.rand()", "w = 1"), tmp_path)


def test_global_random_state_starts_where_the_kernels_was(tmp_path: Path) -> None:
    same("import random\nprint(random.random())",
         ("import random\nrandom.seed(1)", "a = random.random()", "a = 2"), tmp_path)


def test_random_state_a_library_draws_from_is_the_kernels(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    # The draw happens inside a library: nothing in the cell names numpy's global state.
    (tmp_path / "lib_draws.py").write_text(
        "import numpy\n\ndef forest():\n    return numpy.random.rand()\n")
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        same("print(forest())", ("import numpy as np\nnp.random.seed(0)",
                                 "from lib_draws import forest", "first = forest()"), tmp_path)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("lib_draws", None)


def test_a_swept_seed_is_not_overridden_by_the_kernels_state(tmp_path: Path) -> None:
    cells = ("import random", "seed = 1", "random.seed(seed)")
    past, namespace = kernel(*cells)
    program = capture("print(random.random())", past, values=namespace, parameters=["seed"])
    assert run(program, tmp_path, "--seed", "5") == f"{random.Random(5).random()}\n"


# -- finding 4: arguments of a method call are not changed by it ------------------------------


def test_passing_an_object_to_a_method_does_not_replay_the_call(tmp_path: Path) -> None:
    cells = history(
        "X = [1, 2, 3]\ny = [1, 0, 1]",
        "class Meta:\n    def fit(self, X, y):\n        print('FIT')\n        self.n = len(X)",
        "meta_est = Meta()",
        "meta_est.fit(X, y)",
    )
    program = capture("print(sum(X), sum(y))", cells)
    assert run(program, tmp_path) == "6 2\n"
    assert "meta_est" not in program.source and "FIT" not in program.source


def test_a_callee_known_to_change_its_argument_is_replayed(tmp_path: Path) -> None:
    cells = history("import random\nrandom.seed(3)", "deck = list(range(5))",
                    "random.shuffle(deck)", "import heapq\nh = [3, 1]", "heapq.heapify(h)")
    expected = list(range(5))
    random.Random(3).shuffle(expected)
    assert run(capture("print(deck, h)", cells), tmp_path) == f"{expected} [1, 3]\n"


def test_a_change_through_an_object_that_holds_it_is_replayed(tmp_path: Path) -> None:
    # handson-ml3 05: `Pipeline([("scaler", scaler), ...]).fit(X)` fits `scaler`.
    cells = history(
        "class Scaler:\n    def fit(self, X):\n        self.mean_ = sum(X) / len(X)",
        "class Pipe:\n    def __init__(self, steps):\n        self.steps = steps\n"
        "    def fit(self, X):\n        for _, step in self.steps:\n            step.fit(X)",
        "scaler = Scaler()\npipe = Pipe([('scaler', scaler)])\npipe.fit([1, 3])\n"
        "b = scaler.mean_ * 2",
    )
    assert run(capture("print(b)", cells), tmp_path) == "4.0\n"


# -- shipping values ------------------------------------------------------------------------


def test_values_are_shipped_and_their_history_is_not_replayed(tmp_path: Path) -> None:
    source = same("print(total, table['b'], obj.n)", (
        "print('SLOW STEP')\ntotal = sum(range(10))",
        "table = {'a': 1}\ntable['b'] = [total]",
        "class Box:\n    def __init__(self, n):\n        self.n = n",
        "obj = Box(total)",
        "obj.n += 1",
    ), tmp_path)
    assert "SLOW STEP" not in source
    assert "class Box" in source  # the class is a definition: replayed, the object shipped


def test_an_object_that_does_not_pickle_is_replayed(tmp_path: Path) -> None:
    source = same("print(f(2), data)",
                  ("scale = 3", "f = lambda v: v * scale", "data = [f(1)]"), tmp_path)
    assert "f = lambda v: v * scale" in source


def test_super_in_a_method_reads_no_global(tmp_path: Path) -> None:
    # `super()` makes the compiler give a method an implicit `__class__`: not a global.
    same("print(Child().name())", (
        "class Base:\n    def name(self):\n        return 'base'",
        "class Child(Base):\n    def name(self):\n        return 'child of ' + super().name()",
    ), tmp_path)


def test_a_matplotlib_figure_is_replayed_not_shipped(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    source = same("print(len(ax.lines), width)", (
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt",
        "fig, ax = plt.subplots()\nwidth = 3", "line = ax.plot([1, 2])",
    ), tmp_path)
    assert "fig, ax = plt.subplots()" in source and "ax.plot([1, 2])" in source
    assert "width (int" in source


def test_shared_objects_stay_shared(tmp_path: Path) -> None:
    same("a.append(2)\nprint(b, a is b)", ("a = [1]", "b = a"), tmp_path)


def test_a_value_derived_from_a_swept_parameter_is_recomputed(tmp_path: Path) -> None:
    past, namespace = kernel("lr = 0.1", "steps = int(1 / lr)", "other = [1, 2]")
    program = capture("print(lr, steps, other)", past, values=namespace, parameters=["lr"])
    assert run(program, tmp_path, "--lr", "0.5") == "0.5 2 [1, 2]\n"
    assert run(program, tmp_path) == "0.1 10 [1, 2]\n"


def test_a_value_over_the_size_limit_is_replayed(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import caliban_jupyter.capture.values as values

    monkeypatch.setattr(values, "MAX_VALUE_BYTES", 1000)
    source = same("print(len(big), small)", ("big = list(range(5000))", "small = 1"), tmp_path)
    assert "big = list(range(5000))" in source
    past, namespace = kernel("big = list(range(5000))")
    assert capture("print(len(big))", past, values=namespace).notes == (
        "big is recomputed by replaying earlier cells, not shipped: its list pickles to more "
        "than the 1000 bytes a value may ship",)


def test_a_name_that_neither_ships_nor_replays_is_refused_one_line_each() -> None:
    past, namespace = kernel("import threading", "lock = threading.Lock()")
    namespace["other_lock"] = namespace["lock"]  # as a magic or a deleted cell leaves it
    past = history("import threading", "%time other_lock = threading.Lock()")
    with pytest.raises(CaptureError) as error:
        capture("print(other_lock)", past, values=namespace)
    message = str(error.value)
    assert "other_lock" in message and "pickle" in message and "In[2]" in message


def test_a_value_set_by_a_magic_is_shipped(tmp_path: Path) -> None:
    past = history("%time files = ['a', 'b']")
    program = capture("print(files)", past, values={"__name__": "__main__",
                                                     "files": ["a", "b"]})
    assert run(program, tmp_path) == "['a', 'b']\n"


# -- the job's log: what the replay prints is marked off ---------------------------------------


def test_what_the_replay_prints_is_marked_off_in_the_log(tmp_path: Path) -> None:
    import subprocess
    import sys

    cells = history("x = print('SLOW STEP') or 1", "import logging\nlogging.basicConfig()\n"
                    "log = logging.getLogger('t')", "y = 2")
    script = tmp_path / "caliban_main.py"
    script.write_text(capture("log.warning('W')\nprint(x)", cells).source)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60, check=True)
    assert done.stdout == "SLOW STEP\n1\n"
    assert done.stderr == ("[caliban] replaying 4 statements of earlier cells (In[1, 2]); "
                           "their output is not the cell's\n[caliban] the cell starts here\n"
                           "WARNING:t:W\n")
    # A replay that prints nothing leaves the log as the cell alone writes it.
    script.write_text(capture("print(y)", cells).source)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60, check=True)
    assert (done.stdout, done.stderr) == ("2\n", "")


# -- history: the cells before the submitted one ---------------------------------------------


@pytest.mark.parametrize("style", ["ipython8", "ipython9"])
def test_kernel_history_excludes_the_running_cell(style: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from caliban_jupyter.notebook import api, session

    raw = ["", "x = 1", "%%caliban_cloud --nogpu\nx = x + 1"]
    # IPython 8 stores the running cell at In[execution_count]; 9 counts up first.
    count = 2 if style == "ipython8" else 3
    shell = SimpleNamespace(history_manager=SimpleNamespace(input_hist_raw=raw),
                            execution_count=count)
    monkeypatch.setattr(session, "_current_shell", lambda: shell)
    assert api.kernel_history() == ["", "x = 1"]
