"""`caliban expansion` as a user runs it: a real subprocess, real stdout/stderr/exit."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from caliban_jupyter.spec.experiments import expand_experiment_config

CONFIG = {"lr": [0.1, 0.01], "[depth,width]": [[2, 64], [4, 128]], "name": "a b", "v": True}


def caliban(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "caliban_jupyter.cli", "expansion", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    p = tmp_path / "exp.json"
    p.write_text("// sweep\n" + json.dumps(CONFIG, indent=1) + "\n")
    return p


def test_json_output_one_line(config_file):
    r = caliban(str(config_file))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") == 1
    assert json.loads(r.stdout) == expand_experiment_config(CONFIG)


def test_pprint_indented(config_file):
    r = caliban("--pprint", str(config_file))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") > 4
    assert '\n  {\n    "lr": 0.1' in r.stdout
    assert json.loads(r.stdout) == expand_experiment_config(CONFIG)


def test_print_flags_one_quoted_line_per_job(config_file):
    r = caliban("--print_flags", str(config_file))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 4
    assert lines[0] == "--lr 0.1 --depth 2 --width 64 --name 'a b' --v"
    assert shlex.split(lines[3]) == [
        "--lr", "0.01", "--depth", "4", "--width", "128", "--name", "a b", "--v"
    ]


def test_stdin():
    r = caliban("--print_flags", "stdin", stdin='[{"a": [1, 2]}, {}] # two entries')
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["--a 1", "--a 2", ""]


@pytest.mark.parametrize(
    "args, stdin, fragment",
    [
        (["stdin"], '{"a": [1,\n  2,, ]}', "stdin: invalid JSON at line 2, column 5"),
        (["stdin"], '{"a": []}', "'a' has an empty list"),
        (["stdin"], '{"[a,b]": [1]}', "names 2 flags"),
        (["/nonexistent/exp.json"], None, "does not exist"),
    ],
)
def test_errors_are_one_line_exit_2(args, stdin, fragment):
    r = caliban(*args, stdin=stdin)
    assert r.returncode == 2
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("caliban expansion: error: ")
    assert r.stderr.count("\n") == 1
    assert fragment in r.stderr


def test_missing_argument_is_usage_error():
    r = caliban()
    assert r.returncode == 2
    assert "CONFIG" in r.stderr
    assert "Traceback" not in r.stderr


def test_console_script_works(config_file):
    script = Path(sys.executable).with_name("caliban")
    if not script.exists():
        pytest.skip("console script not installed next to this interpreter")
    r = subprocess.run(
        [str(script), "expansion", str(config_file)], capture_output=True, text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)) == 4


def test_broken_pipe_is_quiet(tmp_path):
    p = tmp_path / "big.json"
    p.write_text(json.dumps({"a": list(range(200)), "b": list(range(200))}))
    cmd = (
        f"{shlex.quote(sys.executable)} -m caliban_jupyter.cli expansion --print_flags "
        f"{shlex.quote(str(p))} | head -n 1"
    )
    r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True,
                       timeout=60)
    assert r.stdout == "--a 0 --b 0\n"
    assert "Traceback" not in r.stderr
    assert "BrokenPipe" not in r.stderr
