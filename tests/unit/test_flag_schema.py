"""The flag schema (spec/flag_schema.py) is the one definition of caliban cloud's flags:
the parsers, the settings, the traits of ``%config Caliban``, the export and the form's
runtime fields derive from it, and a flag added to it reaches each of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import fields

import pytest

from caliban_jupyter.flags import choices_of
from caliban_jupyter.spec import flag_schema
from caliban_jupyter.spec.flag_schema import Flag
from caliban_jupyter.spec.runtime import RuntimeFlags


def test_the_runtime_flags_are_the_request_mappings_fields():
    # Adding a runtime flag to the schema without its field in RuntimeFlags (its request
    # mapping) fails here; so does a field without its schema entry.
    assert set(flag_schema.runtime_names()) == {f.name for f in fields(RuntimeFlags)}


def test_every_flag_is_well_formed():
    names = [f.name for f in flag_schema.FLAGS]
    assert len(names) == len(set(names))
    for flag in flag_schema.FLAGS:
        if "config_file" in flag.surfaces:
            assert flag.takes and flag.layer in ("setting", "job"), flag.name
        if "settings" in flag.surfaces:
            assert flag.env_vars and flag.layer == "setting", flag.name
        if flag.type == "choice":
            assert choices_of(flag), flag.name
        assert {"magic", "api"} <= set(flag.surfaces) or "cli" not in flag.surfaces


def test_a_bad_entry_is_refused_when_written():
    with pytest.raises(ValueError, match="type 'text' is not one of"):
        Flag("x", "text", "help", "runtime", ("cli",))
    with pytest.raises(ValueError, match="unknown surface 'desktop'"):
        Flag("x", "str", "help", "runtime", ("desktop",))


def test_backend_choices_come_from_the_backend_registry(monkeypatch):
    from caliban_jupyter.flags import add_cloud_arguments
    from caliban_jupyter.flags_parse import MagicParser
    from caliban_jupyter.service import backends

    monkeypatch.setattr(backends, "backend_names", lambda: ("vertex", "local", "third"))
    parser = MagicParser(prog="p")
    add_cloud_arguments(parser)
    assert parser.parse_args(["--backend", "third"]).backend == "third"
    backend = flag_schema.by_name("backend")
    assert choices_of(backend) == ("vertex", "local", "third")


# A runtime flag as a later one would be written: the schema entry is all it takes for
# every surface to show and parse it (its request mapping and emulator behaviour are
# RuntimeFlags' field and resolve_runtime's, not needed to be seen).
_ADDED = """
import dataclasses
from caliban_jupyter.spec import flag_schema
NEW = flag_schema.Flag(
    "preemption_notice", "str", "warn the job this long before a Spot VM is reclaimed",
    "scheduling", flag_schema.SURFACES, metavar="DURATION", layer="setting",
    env_vars=("CALIBAN_PREEMPTION_NOTICE",), takes="a duration such as \\"2m\\" (string)",
    label="preemption notice", placeholder="e.g. 2m")
flag_schema.FLAGS = (*flag_schema.FLAGS, NEW)
"""

_PROBE = """
import contextlib, io, json, os, argparse
out = {}

from caliban_jupyter.cli.main import main
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    try:
        main(["cloud", "--help"])
    except SystemExit:
        pass
out["cli_help"] = buf.getvalue()

from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "caliban_jupyter")
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    shell.run_cell_magic("caliban_cloud", "--help", "x = 1")
out["magic_help"] = buf.getvalue()
from caliban_jupyter.notebook import magics
ns = magics.parser("cloud").parse_args(["--preemption_notice", "2m", "--spot"])
out["magic_parse"] = ns.preemption_notice

from caliban_jupyter.flags import add_cloud_arguments
from caliban_jupyter.flags_parse import MagicParser, namespace_from_options
p = MagicParser(prog="caliban_jupyter.cloud()")
add_cloud_arguments(p)
api = namespace_from_options(p, {"preemption_notice": "3m"}, what="x")
out["api_parse"] = api.preemption_notice

buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    shell.run_line_magic("config", "Caliban")
out["config_help"] = buf.getvalue()
shell.run_line_magic("config", "Caliban.preemption_notice = '4m'")
from caliban_jupyter.notebook.session import get_config
out["session"] = get_config().session()

from caliban_jupyter.settings import CONFIG_KEYS, ENV_VARS
out["config_key"] = CONFIG_KEYS.get("preemption_notice")
out["env_vars"] = ENV_VARS.get("preemption_notice")

from caliban_jupyter.errors import ConfigError
from caliban_jupyter.settings import load_config_file
with open(".calibanconfig.json", "w") as f:
    f.write('{"preemption_notice": 5}')
try:
    load_config_file(".")
except ConfigError as e:
    out["config_error"] = str(e)
os.remove(".calibanconfig.json")
from caliban_jupyter.packaging.export import cloud_command
out["export_command"] = cloud_command({"backend": "local", "preemption_notice": "2m",
                                       "spot": True})

from caliban_jupyter.widgets.form import CalibanForm
open("train.py", "w").write("print(1)\\n")
form = CalibanForm("train.py", initial={"backend": "local", "preemption_notice": "5m"},
                   table_options={"autostart": False})
field = form.runtime.texts["preemption_notice"]
out["form"] = [field.description, field.placeholder, field.value,
               field in form.runtime.scheduling.children, field in form.runtime.controls,
               form.error]
print("RESULT" + json.dumps(out))
"""


def test_a_runtime_flag_added_to_the_schema_reaches_every_surface(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [p for p in (os.environ.get("PYTHONPATH"), *sys.path) if p])}
    for var in ("CALIBAN_BACKEND", "PROJECT_ID", "REGION", "CALIBAN_ENDPOINT"):
        env.pop(var, None)
    script = textwrap.dedent(_ADDED) + textwrap.dedent(_PROBE)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.split("RESULT", 1)[1])
    help_line = "--preemption_notice DURATION"
    for shown in (out["cli_help"], out["magic_help"]):
        assert help_line in shown
        # In its group, after the scheduling flags written before it.
        scheduling = shown.index("scheduling:")
        assert shown.index("--disable_retries", scheduling) < shown.index(help_line) \
            < shown.index("runtime:", scheduling)
        assert "warn the job this long before a Spot VM is reclaimed" in shown
    assert out["magic_parse"] == "2m" and out["api_parse"] == "3m"
    assert "Caliban.preemption_notice" in out["config_help"]
    assert out["session"] == {"preemption_notice": "4m"}
    assert out["config_key"] == 'a duration such as "2m" (string)'
    assert out["env_vars"] == ["CALIBAN_PREEMPTION_NOTICE"]
    assert out["config_error"] == (".calibanconfig.json: 'preemption_notice' must be a "
                                   'duration such as "2m" (string)')
    # The export's command lists it where the schema puts it (the copy's last entry).
    assert out["export_command"] == ["caliban", "cloud", "--spot", "--backend", "local",
                                     "--preemption_notice", "2m", "main.py"]
    # The form still plans (the flag's request mapping is not written: it changes nothing).
    assert out["form"] == ["preemption notice", "e.g. 2m", "5m", True, True, None]


def test_the_help_names_every_config_key_and_environment_variable():
    # The prose of `caliban cloud --help/--helpfull` is written by hand (caliban's wording):
    # a flag added to the schema that the file or the environment takes must be named there.
    import re

    from caliban_jupyter.flags import EPILOG, HELPFULL_EXTRA

    words = set(re.findall(r"[A-Za-z_]+", EPILOG + HELPFULL_EXTRA))
    for flag in flag_schema.flags("config_file"):
        assert flag.name in words, flag.name
    for flag in flag_schema.flags("settings"):
        assert set(flag.env_vars) <= words, flag.name
