"""Tests for notebook code capture: what is taken from history, and that the program runs."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from caliban_jupyter.capture.program import CapturedProgram, capture, pinned_requirements
from caliban_jupyter.errors import CaptureError


def history(*cells: str) -> list[str]:
    """Like IPython's ``In``: index 0 is empty, cell k is ``In[k]``."""
    return ["", *cells]


def run(program: CapturedProgram, tmp_path: Path, *args: str) -> str:
    script = tmp_path / "caliban_main.py"
    script.write_text(program.source)
    done = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, f"{done.stderr}\n--- program ---\n{program.source}"
    return done.stdout


# -- dependencies ------------------------------------------------------------------------------


def test_takes_transitive_dependencies_across_cells_and_nothing_else(tmp_path: Path) -> None:
    cells = history(
        "import math\nimport json",
        "SCALE = 2\nNOISE = 'not needed'",
        "def helper(v):\n    return math.sqrt(v) * SCALE",
        "def load():\n    return [helper(v) for v in (4, 9)]",
        "print('exploring')\nleftover = load()",
    )
    program = capture("print(load())", cells)
    assert "NOISE" not in program.source
    assert "import json" not in program.source
    assert "exploring" not in program.source
    assert "leftover" not in program.source
    assert program.cells_used == (1, 2, 3, 4)
    assert program.imports == ("math",)
    assert run(program, tmp_path) == "[4.0, 6.0]\n"


def test_statement_order_is_execution_order(tmp_path: Path) -> None:
    cells = history("a = 1", "b = a + 1", "c = b * 10")
    program = capture("print(a, b, c)", cells)
    source = program.source
    assert source.index("a = 1") < source.index("b = a + 1") < source.index("c = b * 10")
    assert run(program, tmp_path) == "1 2 20\n"


def test_latest_redefinition_wins_and_self_reference_keeps_the_chain(tmp_path: Path) -> None:
    cells = history(
        "x = 100",
        "def f():\n    return 'old'",
        "x = 1",
        "x = x + 1",
        "x += 10",
        "def f():\n    return 'new'",
        "y = 5",
    )
    program = capture("print(x, f())", cells)
    assert "x = 100" not in program.source
    assert "'old'" not in program.source
    assert "y = 5" not in program.source
    assert program.cells_used == (3, 4, 5, 6)
    assert run(program, tmp_path) == "12 new\n"


def test_function_body_globals_resolve_where_the_function_is_called(tmp_path: Path) -> None:
    # helper is defined after train and rate is redefined later: the job sees what the
    # kernel would see when the cell calls train().
    cells = history(
        "def train():\n    return helper() * rate",
        "def helper():\n    return 3",
        "rate = 1",
        "rate = 2",
    )
    program = capture("print(train())", cells)
    assert "rate = 1" not in program.source
    assert run(program, tmp_path) == "6\n"


def test_top_level_call_uses_the_values_at_that_point(tmp_path: Path) -> None:
    cells = history(
        "def g():\n    return base + 1",
        "base = 1",
        "first = g()",
        "base = 100",
    )
    program = capture("print(first)", cells)
    assert "base = 100" not in program.source
    assert run(program, tmp_path) == "2\n"


def test_in_place_changes_of_a_needed_object_are_taken(tmp_path: Path) -> None:
    cells = history(
        "cfg = {}\nitems = []",
        'cfg["lr"] = 0.1\ncfg["depth"] = depth = 3',
        "items.append(cfg['lr'])\nclass Box: pass\nbox = Box()\nbox.size = 7",
        "import json\njson.dumps(cfg)",
        "del cfg['depth']",
        "other = {}\nother['k'] = 1",
    )
    program = capture("print(json.dumps(cfg), items, box.size)", cells)
    assert "import json" in program.source
    # A call on a captured module is taken like any call acting on a captured name (it used
    # to be left out on purpose; setup such as random.seed(42) was then lost).
    assert "\njson.dumps(cfg)\n" in program.source
    assert "other" not in program.source
    assert run(program, tmp_path) == '{"lr": 0.1} [0.1] 7\n'


def test_changes_before_the_latest_definition_are_not_taken(tmp_path: Path) -> None:
    cells = history("cfg = {}", "cfg['a'] = 1", "cfg = {'b': 2}", "cfg['c'] = 3")
    program = capture("print(cfg)", cells)
    assert "cfg['a'] = 1" not in program.source
    assert run(program, tmp_path) == "{'b': 2, 'c': 3}\n"


def test_names_defined_in_the_body_are_not_needed_from_history(tmp_path: Path) -> None:
    cells = history("value = 'from notebook'", "def show():\n    return value")
    program = capture("value = 'from cell'\nprint(show())", cells)
    assert "from notebook" not in program.source
    assert run(program, tmp_path) == "from cell\n"


def test_body_use_before_its_own_definition_takes_history(tmp_path: Path) -> None:
    program = capture("n = n + 1\nprint(n)", history("n = 41"))
    assert run(program, tmp_path) == "42\n"


def test_imports_with_aliases_dotted_and_from_imports(tmp_path: Path) -> None:
    cells = history(
        "import collections as co\nimport os.path\nfrom math import sqrt as root, pi",
        "import textwrap",
        "from json import dumps",
    )
    body = "print(co.Counter('aab')['a'], os.path.basename('/a/b'), root(16), round(pi, 2))"
    program = capture(body, cells)
    assert program.imports == ("collections", "math", "os")
    assert "textwrap" not in program.source and "dumps" not in program.source
    assert run(program, tmp_path) == "2 b 4.0 3.14\n"


def test_classes_bases_decorators_and_methods_using_globals(tmp_path: Path) -> None:
    cells = history(
        "import functools",
        "UNITS = 'cm'",
        "def tag(cls):\n    cls.tagged = True\n    return cls",
        "class Base:\n    kind = 'base'",
        "FACTOR = 3",
        "@tag\nclass Model(Base):\n    size = FACTOR * 2\n"
        "    @functools.cached_property\n    def label(self):\n"
        "        return f'{self.size}{UNITS}'",
        "class Unused: pass",
    )
    program = capture("m = Model()\nprint(m.label, m.kind, m.tagged)", cells)
    assert "Unused" not in program.source
    assert program.imports == ("functools",)
    assert run(program, tmp_path) == "6cm base True\n"


def test_decorators_defaults_closures_and_lambdas(tmp_path: Path) -> None:
    cells = history(
        "def twice(fn):\n    def wrapper(*a):\n        return 2 * fn(*a)\n    return wrapper",
        "DEFAULT = 5",
        "OFFSET = 100",
        "@twice\ndef scaled(v=DEFAULT):\n    return v + OFFSET",
        "BONUS = 1",
        "bump = lambda v: v + BONUS",
        "def make_adder(k):\n    def add(v):\n        return v + k + BONUS\n    return add",
    )
    program = capture("print(scaled(), bump(1), make_adder(10)(0))", cells)
    assert run(program, tmp_path) == "210 2 11\n"


def test_comprehension_targets_are_local(tmp_path: Path) -> None:
    cells = history(
        "SCALE = 10",
        "k = 'module k, not needed'",
        "def scaled():\n    return [k * SCALE for k in range(3)]",
        "squares = {i: i * i for i in range(3)}",
    )
    program = capture("print(scaled(), squares)", cells)
    assert "module k" not in program.source
    assert run(program, tmp_path) == "[0, 10, 20] {0: 0, 1: 1, 2: 4}\n"
    with pytest.raises(CaptureError, match=r"\bi \(used at line 3 of this cell"):
        capture("print(squares)\nprint(i)", cells)


def test_global_statements(tmp_path: Path) -> None:
    cells = history(
        "counter = 0",
        "def bump():\n    global counter\n    counter += 1",
        "def init():\n    global STATE\n    STATE = 'ready'",
        "init()",
        "unrelated = 1",
    )
    program = capture("bump()\nbump()\nprint(counter, STATE)", cells)
    assert "unrelated" not in program.source
    assert run(program, tmp_path) == "2 ready\n"


def test_top_level_blocks_that_define_needed_names(tmp_path: Path) -> None:
    cells = history(
        "mode = 'fast'",
        "steps = 0",
        "if mode == 'fast':\n    steps = 10\nelse:\n    steps = 1000",
        "total = 0\nfor i in range(4):\n    total += i",
        "try:\n    import tomllib as toml\nexcept ImportError:\n    toml = None",
        "import io\nwith io.StringIO('abc') as handle:\n    text = handle.read()",
        "if (n := len(text)) > 2:\n    big = True",
    )
    program = capture("print(steps, total, toml is not None, text, n, big)", cells)
    assert run(program, tmp_path) == "10 6 True abc 3 True\n"


def test_statements_sharing_a_line_are_taken_separately(tmp_path: Path) -> None:
    program = capture("print(a)", history("a = 1; b = undefined_name"))
    assert "undefined_name" not in program.source
    assert run(program, tmp_path) == "1\n"


def test_match_statement_binds_capture_names(tmp_path: Path) -> None:
    cells = history(
        "point = (1, 2)",
        "match point:\n    case (0, y):\n        where = 'axis'\n    case (x, y):\n"
        "        where = f'{x},{y}'",
    )
    assert run(capture("print(where)", cells), tmp_path) == "1,2\n"


# -- magics, shell lines, unparsable cells ----------------------------------------------------


def test_magics_are_dropped_and_shell_lines_run_where_captured(tmp_path: Path) -> None:
    # Shell lines used to be dropped everywhere; now the job runs those of the code it
    # captures (a function's body here) and says which lines it does not run.
    cells = history(
        "%matplotlib inline\nimport math\n!echo hello\nlen?",
        "%%time\nslow = 1",
        "def report():\n    !echo inside\n    %time math.sqrt(4)\n    return math.sqrt(9)",
        "%%caliban_cloud --name old\nprint(report())",
        "def broken(:\n    pass",
        "!ls",
    )
    program = capture("print(report())", cells)
    assert "get_ipython" not in program.source
    assert program.cells_used == (1, 3)
    assert run(program, tmp_path) == "inside\n3.0\n"
    assert program.notes == (
        "In[1] line 1: `%matplotlib inline` is not run in the job (magics other than %pip, "
        "and shell output kept in a variable, do not run in a job)",
        "In[1] line 3: `!echo hello` is not run in the job (shell lines of earlier cells run "
        "only with --capture all; or move it into this cell)",
        "In[1] line 4: `len?` is not run in the job (magics other than %pip, and shell "
        "output kept in a variable, do not run in a job)",
        "In[3] line 3: `%time math.sqrt(4)` is not run in the job (magics other than %pip "
        "do not run in a job)",
        "In[6] line 1: `!ls` is not run in the job (shell lines of earlier cells run only "
        "with --capture all; or move it into this cell)",
    )
    everything = capture("print(report())", cells, mode="all")
    assert "get_ipython" not in everything.source
    assert "slow" not in everything.source and "broken" not in everything.source
    assert "In[2] line 1: `%%time` is not run in the job (cell magics other than %%bash " \
           "and %%sh do not run in a job)" in everything.notes
    assert not any("!echo hello" in note or "!ls" in note for note in everything.notes)


@pytest.mark.parametrize(
    ("cell", "name"),
    [
        ("files = !ls", "files"),
        ("files = %sx ls", "files"),
        ("%time files = 1", "files"),
        ("%%time\nfiles = 1", "files"),
        ("def files():\n    out = !ls\n    return out", "files"),
    ],
)
def test_a_name_defined_only_by_a_magic_is_an_error(cell: str, name: str) -> None:
    with pytest.raises(CaptureError) as caught:
        capture(f"x = 1\nprint({name})", history("import os", cell))
    message = str(caught.value)
    assert f"{name} (set by a magic or shell command at In[2] line 1" in message
    assert "used at line 3 of this cell" in message
    assert "not captured" in message and "plain Python" in message


def test_a_magic_after_a_plain_definition_is_still_an_error() -> None:
    with pytest.raises(CaptureError, match="files"):
        capture("print(files)", history("files = []", "files = !ls"))


def test_plain_definition_after_a_magic_is_fine(tmp_path: Path) -> None:
    program = capture("print(files)", history("files = !ls", "files = ['a']"))
    assert run(program, tmp_path) == "['a']\n"


# -- errors -----------------------------------------------------------------------------------


def test_missing_names_are_listed_with_where_they_are_used() -> None:
    cells = history("def train():\n    return model(data)")
    with pytest.raises(CaptureError) as caught:
        capture("\nresult = train()\nprint(missing_one)", cells)
    message = str(caught.value)
    assert "- data (used at In[1] line 2)" in message
    assert "- model (used at In[1] line 2)" in message
    assert "- missing_one (used at line 4 of this cell)" in message
    assert "train" not in message.split("cell needs:")[1].split("Run the cells")[0]
    assert "Run the cells that define them first" in message
    assert "--capture all" in message


def test_line_numbers_count_the_blank_lines_ipython_drops() -> None:
    with pytest.raises(CaptureError, match=r"ghost \(used at In\[1\] line 4\)"):
        capture("print(y)", history("\n  \nz = 1\ny = ghost"))


def test_star_imports_may_define_anything(tmp_path: Path) -> None:
    program = capture("print(sqrt(16))", history("sqrt = None", "from math import *"))
    assert "sqrt = None" in program.source  # the star import might not bind it
    assert run(program, tmp_path) == "4.0\n"


def test_the_current_cell_in_history_is_skipped(tmp_path: Path) -> None:
    body = "print(a)"
    cells = history("a = 1", f"%%caliban_cloud --lr 1\n{body}")
    program = capture(body, cells)
    assert program.cells_used == (1,)
    assert run(program, tmp_path) == "1\n"


def test_ipython_only_names_get_a_hint() -> None:
    with pytest.raises(CaptureError, match="display .*only inside IPython"):
        capture("display(1)", history())


def test_builtins_are_not_needed(tmp_path: Path) -> None:
    program = capture("print(len(range(3)), __name__)", history())
    assert run(program, tmp_path) == "3 __main__\n"


def test_a_body_that_does_not_parse_is_an_error() -> None:
    with pytest.raises(CaptureError, match="does not parse.*line 3 of this cell"):
        capture("x = 1\ny = (", history())


def test_bad_mode_and_parameter_names_are_errors() -> None:
    with pytest.raises(CaptureError, match="Unknown capture mode"):
        capture("pass", history(), mode="some")
    with pytest.raises(CaptureError, match="learning-rate"):
        capture("pass", history(), parameters=["learning-rate"])
    with pytest.raises(CaptureError, match="class"):
        capture("pass", history(), parameters=["class"])


# -- parameters -------------------------------------------------------------------------------


def test_parameters_override_notebook_defaults_from_the_command_line(tmp_path: Path) -> None:
    cells = history(
        "lr = 0.5\noptimizer = 'sgd'\nverbose = False",
        "def train():\n    return f'{optimizer} lr={lr} verbose={verbose}'",
    )
    program = capture(
        "print(train(), epochs)", cells, parameters=["lr", "optimizer", "verbose", "epochs"]
    )
    assert "lr = 0.5" in program.source  # still captured, as the default
    assert run(program, tmp_path, "--epochs", "3") == "sgd lr=0.5 verbose=False 3\n"
    out = run(
        program, tmp_path, "--lr", "0.01", "--optimizer", "adam", "--verbose", "--epochs=[1, 2]"
    )
    assert out == "adam lr=0.01 verbose=True [1, 2]\n"


def test_parameters_are_read_before_the_captured_code(tmp_path: Path) -> None:
    # The value replaces the notebook's own definition (see test_capture_effects.py), so
    # the command line is read at the top now, not right before the body.
    program = capture("print(lr, sys.argv[1:])", history("import sys", "lr = 1"), parameters=["lr"])
    source = program.source
    assert source.index("_caliban_parameters") < source.index("lr = 1") < source.index("print(lr")
    # Unknown arguments stay for the body to parse; negative numbers are values.
    assert run(program, tmp_path, "--lr", "-2", "--other", "x") == (
        "-2 ['--lr', '-2', '--other', 'x']\n"
    )


def test_parameters_without_a_notebook_default_count_as_defined(tmp_path: Path) -> None:
    program = capture("print(seed * 2)", history(), parameters=["seed"])
    assert run(program, tmp_path, "--seed", "21") == "42\n"


# -- mode "all" and program layout --------------------------------------------------------------


def test_mode_all_takes_every_executed_cell_in_order(tmp_path: Path) -> None:
    cells = history("print('one')", "%ls\nunused = 2\nprint('two')", "!echo shell", "x = 3")
    program = capture("print(x)", cells, mode="all")
    assert program.cells_used == (1, 2, 3, 4)  # shell lines run too (they used to be dropped)
    assert run(program, tmp_path) == "one\ntwo\nshell\n3\n"


def test_future_imports_are_hoisted_to_the_top(tmp_path: Path) -> None:
    cells = history(
        "x = 1", "from __future__ import annotations", "def f(a: Undefined) -> int:\n    return x"
    )
    program = capture("print(f(0))", cells)
    assert program.source.startswith("from __future__ import annotations")
    assert run(program, tmp_path) == "1\n"


def test_the_body_keeps_its_comments(tmp_path: Path) -> None:
    body = "# train for real\n\nvalue = 1  # one\nprint(value)\n"
    program = capture(body, history())
    assert body.strip() in program.source
    assert run(program, tmp_path) == "1\n"


# -- pinned requirements ------------------------------------------------------------------------


def test_pinned_requirements(tmp_path: Path) -> None:
    (tmp_path / "mylocal.py").write_text("")
    (tmp_path / "localpkg").mkdir()
    (tmp_path / "localpkg" / "__init__.py").write_text("")
    imports = [
        "traitlets",
        "IPython",
        "os",
        "json",
        "caliban_jupyter",
        "mylocal",
        "localpkg",
        "no_such_module_anywhere",
        "traitlets.config",
    ]
    pins = pinned_requirements(imports, cwd=str(tmp_path))
    expected = [
        f"ipython=={importlib.metadata.version('ipython')}",
        f"traitlets=={importlib.metadata.version('traitlets')}",
    ]
    assert [pin.lower() for pin in pins] == expected
    assert list(pins) == sorted(pins, key=str.lower)


def test_local_module_shadowing_is_relative_to_cwd(tmp_path: Path) -> None:
    (tmp_path / "traitlets").mkdir()
    (tmp_path / "traitlets" / "core.py").write_text("")
    assert pinned_requirements(["traitlets"], cwd=str(tmp_path)) == ()
    assert len(pinned_requirements(["traitlets"], cwd=str(tmp_path / "elsewhere"))) == 1
