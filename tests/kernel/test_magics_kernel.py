"""%%caliban_cloud and the line magics in a real kernel, against the emulator."""

from __future__ import annotations

import re

import pytest

from .conftest import notebook_of, outputs_text, run_notebook

pytestmark = [pytest.mark.kernel, pytest.mark.docker]

HEAVY = ("docker", "google.cloud.aiplatform", "google.auth", "google.api_core", "ipywidgets")

CELLS = {
    "load": "%load_ext caliban_jupyter\nimport sys\n"
            f"print('HEAVY', sorted(m for m in sys.modules if m.startswith({HEAVY!r})))",
    "backend": '%config Caliban.backend = "local"',
    "defs": "import math as m\nfrom collections import Counter as C\nscale = 2\n"
            "def area(r):\n    return m.pi * r * r * scale",
    "redefine": "scale = 10",
    "magic_defined": "%time magic_value = lambda: 3  # neither replays nor pickles",
    "vars": 'n = 3\nteam = "ml"\ngrid = {"radius": [1, 2]}',
    "submit": "%%caliban_cloud --nogpu --experiment_config grid --xgroup kt-ok --name k{n} "
              "-l team=$team\n"
              'print("OUT", radius, round(area(radius), 3), C("aab")["a"])',
    "wait": "s = _\ns.wait(timeout=600, poll=0.5)\nfor j in s.jobs:\n"
            "    print('JOB', j.display_name, j.state, j.labels.get('team'), j.logs().strip())",
    "err_magic": "%%caliban_cloud --nogpu --xgroup kt-err1\nprint(magic_value)",
    "err_undefined": "%%caliban_cloud --nogpu --xgroup kt-err2\nprint(undefined_name)",
    "err_spec": "%%caliban_cloud --gpu_spec 2xNOPE --xgroup kt-err3\nprint(1)",
    "err_flag": "%%caliban_cloud --nogpu --bogus\nprint(1)",
    "err_config": "%%caliban_cloud --nogpu --experiment_config n --xgroup kt-err4\nprint(1)",
    "nothing": "import caliban_jupyter\nfrom caliban_jupyter.errors import NotFoundError\n"
               "for x in ['kt-err1', 'kt-err2', 'kt-err3', 'kt-err4']:\n"
               "    try:\n        caliban_jupyter.status(x)\n"
               "    except NotFoundError:\n        print('NOJOBS', x)",
    "help": "%%caliban_cloud --help\nprint(1)",
    "doc": "doc = get_ipython().find_cell_magic('caliban_cloud').__doc__\n"
           "print('DOC', '--gpu_spec' in doc, '--capture' in doc, '--experiment_config' in doc)",
    "config": "%caliban_config --nogpu",
    "status": "%caliban_status --xgroup kt-ok",
    "logs": "%caliban_logs {s.jobs[1].display_name} --xgroup kt-ok",
    "stop": "%caliban_stop --xgroup kt-ok",
    "resubmit": "%caliban_resubmit --xgroup kt-ok --all_jobs --dry_run",
    "dry": "caliban_jupyter.cloud('print(area(3))', nogpu=True, dry_run=True, xgroup='kt-dry')",
    "api_error": "from caliban_jupyter.errors import CalibanError\n"
                 "try:\n    caliban_jupyter.cloud('trainer.train', gpus=2)\n"
                 "except CalibanError as e:\n    print('APIERR', e)",
}


@pytest.fixture(scope="module")
def executed(kernel_env, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("magics")
    nb = run_notebook(notebook_of(*CELLS.values()), cwd, allow_errors=True)
    return {name: cell for name, cell in zip(CELLS, nb.cells, strict=True)}


def text(executed, name: str) -> str:
    return outputs_text(executed[name])


def errors(executed, name: str) -> list:
    return [o for o in executed[name].outputs if o.output_type == "error"]


def test_load_ext_imports_nothing_heavy(executed):
    assert "HEAVY []" in text(executed, "load")


def test_capture_across_cells_with_aliases_redefinition_and_interpolation(executed):
    jobs = re.findall(r"JOB (\S+) (\S+) (\S+) OUT (\S+) (\S+) (\S+)", text(executed, "wait"))
    assert len(jobs) == 2, text(executed, "wait")
    names = [j[0] for j in jobs]
    assert all(name.startswith("k3_") for name in names)  # {n} expanded in the line
    assert {j[1] for j in jobs} == {"SUCCEEDED"}
    assert {j[2] for j in jobs} == {"ml"}  # $team expanded in the line
    # Parameter injection: radius per job; the latest `scale` (10) was captured.
    assert sorted((j[3], j[4], j[5]) for j in jobs) == [("1", "31.416", "2"),
                                                        ("2", "125.664", "2")]


def test_sweep_display_is_a_status_table(executed):
    shown = executed["submit"].outputs
    result = [o for o in shown if o.output_type == "execute_result"]
    assert result, shown
    assert "<table" in result[0].data["text/html"]
    assert "kt-ok" in result[0].data["text/plain"]


@pytest.mark.parametrize("cell,message", [
    ("err_magic", "magic"),
    ("err_undefined", "undefined_name"),
    ("err_spec", "NOPE"),
    ("err_flag", "unrecognized arguments: --bogus"),
    ("err_config", "holds a int"),
])
def test_mistakes_are_one_usage_error_and_submit_nothing(executed, cell, message):
    # The cell fails (an error output, not a line on stderr), shown as one message without
    # a traceback.
    outputs = executed[cell].outputs
    assert [o.output_type for o in outputs] == ["error"], outputs
    shown = "\n".join(outputs[0].traceback)
    assert outputs[0].ename == "UsageError" and shown.startswith("UsageError: ")
    assert message in outputs[0].evalue and message in shown
    assert "Traceback" not in shown


def test_error_cells_created_no_job(executed):
    assert re.findall(r"NOJOBS (\S+)", text(executed, "nothing")) == [
        "kt-err1", "kt-err2", "kt-err3", "kt-err4"]


def test_help_is_the_shared_parser(executed):
    assert "--gpu_spec" in text(executed, "help") and "--capture" in text(executed, "help")
    assert not errors(executed, "help")
    assert "DOC True True True" in text(executed, "doc")


def test_config_shows_sources(executed):
    out = text(executed, "config")
    assert re.search(r"backend\s+local\s+\(%config Caliban\)", out), out
    assert re.search(r"base_image\s+\S+\s+\(environment CALIBAN_BASE_IMAGE\)", out), out


def test_status_and_logs_magics(executed):
    assert len(re.findall(r"^k3_\S+\s+SUCCEEDED", text(executed, "status"), re.M)) == 2
    assert re.search(r"OUT 2 125\.664 2", text(executed, "logs"))


def test_api_dry_run_and_errors(executed):
    dry = text(executed, "dry")
    assert "1 job would be submitted" in dry and "kt-dry" in dry
    assert "APIERR" in text(executed, "api_error")
    assert "unknown option 'gpus'" in text(executed, "api_error")
    assert "gpu_spec" in text(executed, "api_error")  # lists the valid options


def test_stop_and_resubmit_magics(executed):
    assert "no running jobs in group 'kt-ok'" in text(executed, "stop")
    assert not errors(executed, "stop")
    # --dry_run lists the retries (one per job) and submits nothing.
    assert len(re.findall(r"^k3_\S+-retry1\s+NOT_SUBMITTED", text(executed, "resubmit"),
                          re.M)) == 2, text(executed, "resubmit")
    assert "2 SUCCEEDED" in text(executed, "status")
