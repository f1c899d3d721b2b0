"""What a %%caliban_cloud cell captures reaches the job: swept values in place of the
notebook's definitions, setup done by calls, local modules, shell lines, top-level await.

One notebook, one 2-job sweep on the emulator (real kernel, Docker, SDK)."""

from __future__ import annotations

import random
import re

import pytest

from .conftest import notebook_of, outputs_text, run_notebook

pytestmark = [pytest.mark.kernel, pytest.mark.docker]

MODULES = {
    "mylib.py": "from mypkg.scale import factor\n\ndef double(v):\n    return v * factor\n",
    "mypkg/__init__.py": "",
    "mypkg/scale.py": "factor = 2\n",
}

SWEEP = "%%caliban_cloud --nogpu --experiment_config grid --xgroup kc-capture"
BODY = ('!echo SHELL {lr}\nimport asyncio\nawaited = await asyncio.sleep(0, result="ok")\n'
        'print("OUT", lr, steps, opt["lr"], round(random.random(), 6), '
        'os.environ["CALIBAN_X"], cfg["ready"], mylib.double(lr), awaited)')

CELLS = {
    "load": "%load_ext caliban_jupyter\n%config Caliban.backend = \"local\"",
    "imports": "%who\nimport os, random\nimport mylib",
    "defs": 'lr = 0.1\nsteps = int(1 / lr)\nopt = {"lr": lr}',
    "seed": "random.seed(42)",
    "env": 'os.environ["CALIBAN_X"] = "on"',
    "setup": "cfg = {}\ndef setup(c):\n    c['ready'] = True",
    "call": "setup(cfg)",
    "opaque": "exec('unrelated = 1')",
    "grid": 'grid = {"lr": [0.5, 0.25]}',
    "dry": f"{SWEEP} --dry_run --show_program\n{BODY}",
    "submit": f"{SWEEP}\n{BODY}",
    "wait": "s = _\ns.wait(timeout=600, poll=0.5)\nfor j in s.jobs:\n"
            "    print('JOB', j.state, ' '.join(j.logs().split()))",
    "bad_key": "bad = {'--lr': [1]}",
    "bad_submit": "%%caliban_cloud --nogpu --experiment_config bad --dry_run\nprint(1)",
}


@pytest.fixture(scope="module")
def executed(kernel_env, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("capture")
    for rel, text in MODULES.items():
        (cwd / rel).parent.mkdir(parents=True, exist_ok=True)
        (cwd / rel).write_text(text)
    nb = run_notebook(notebook_of(*CELLS.values()), cwd, allow_errors=True)
    return {name: outputs_text(cell) for name, cell in zip(CELLS, nb.cells, strict=True)}


def test_the_dry_run_names_shipped_modules_notes_and_the_program(executed):
    dry = executed["dry"]
    assert "Local modules shipped with the program: mylib.py, mypkg" in dry
    assert "note: In[2] line 1: `%who` is not run in the job" in dry
    assert "note: In[8] line 1: `exec('unrelated = 1')` was left out" in dry
    assert "use --capture all" in dry
    program = dry.split("Program (caliban_main.py")[1]
    assert program.index("lr = 0.1") < program.index("the experiment's --lr") \
        < program.index("steps = int(1 / lr)")
    assert "random.seed(42)" in program and "os.environ" in program  # module state: replayed
    # cfg, which setup(cfg) filled, ships as the kernel holds it: the call is not replayed.
    assert "setup(cfg)" not in program and "values the cell reads: cfg (dict" in program


def test_each_job_computes_from_its_swept_value_with_the_notebooks_setup(executed):
    jobs = re.findall(r"JOB (\S+) (?:SHELL (\S+) )?OUT (.*)", executed["wait"])
    assert len(jobs) == 2, executed["wait"]
    seeded = round(random.Random(42).random(), 6)
    assert sorted(jobs) == [
        ("SUCCEEDED", "0.25", f"0.25 4 0.25 {seeded} on True 0.5 ok"),
        ("SUCCEEDED", "0.5", f"0.5 2 0.5 {seeded} on True 1.0 ok"),
    ]
    assert "`%who` is not run in the job" in executed["submit"]  # said at submit time too


def test_a_key_that_cannot_be_a_variable_is_one_usage_error(executed):
    assert executed["bad_submit"].startswith("UsageError: experiment key '--lr' cannot become")
    assert "'--lr' -> 'lr'" in executed["bad_submit"]
