"""The notebook front end without a kernel or Docker: parsing, options, display, config."""

from __future__ import annotations

import pytest

from caliban_jupyter.errors import UsageError
from caliban_jupyter.notebook.args import cloud_parser, namespace_from_options, parse_line
from caliban_jupyter.notebook.session import Caliban
from caliban_jupyter.notebook.sweep import Sweep
from caliban_jupyter.records import JobRecord
from caliban_jupyter.service.groups import JobGroup
from caliban_jupyter.settings import resolve_settings


def test_line_splits_script_args_after_double_dash():
    args = parse_line(cloud_parser(), "--nogpu -d data --dir more -- --epochs 3 'a b'")
    assert args.nogpu and args.dir == ["data", "more"]
    assert args.script_args == ["--epochs", "3", "a b"]


def test_unknown_flag_is_a_usage_error():
    with pytest.raises(UsageError, match="unrecognized arguments: --gpus"):
        parse_line(cloud_parser(), "--gpus 2")


def test_capture_choices_are_checked():
    with pytest.raises(UsageError, match="--capture"):
        parse_line(cloud_parser(), "--capture some")


def test_options_map_to_the_same_namespace_as_flags():
    p = cloud_parser()
    ns = namespace_from_options(p, {"nogpu": True, "dirs": "data", "labels": {"team": "ml"},
                                    "experiment_config": {"lr": [1, 2]}}, what="cloud()")
    assert ns.nogpu is True and ns.dir == ["data"] and ns.label == ["team=ml"]
    assert ns.experiment_config == {"lr": [1, 2]}
    assert ns.gpu_spec is None and ns.format == "text"  # parser defaults kept


def test_unknown_option_lists_valid_ones():
    with pytest.raises(UsageError) as e:
        namespace_from_options(cloud_parser(), {"gpus": 2}, what="cloud()")
    assert "unknown option 'gpus'" in str(e.value)
    assert "gpu_spec" in str(e.value) and "experiment_config" in str(e.value)


@pytest.mark.parametrize("options,match", [
    ({"nogpu": "yes"}, "True or False"),
    ({"backend": "aws"}, "must be one of"),
    ({"gpu_spec": ["2xV100"]}, "takes a string"),
])
def test_option_values_are_checked(options, match):
    with pytest.raises(UsageError, match=match):
        namespace_from_options(cloud_parser(), options, what="cloud()")


def test_caliban_config_session_feeds_settings(tmp_path):
    c = Caliban()
    assert c.session() == {}
    c.backend = "local"
    c.project_id = "p"
    s = resolve_settings({}, gpu=False, cwd=tmp_path, env={}, session=c.session())
    assert (s.backend, s.sources["backend"]) == ("local", "%config Caliban")
    assert s.sources["project_id"] == "%config Caliban"


def _record(i: int, state: str) -> JobRecord:
    return JobRecord(submission_id=f"s{i}", display_name=f"job_{i}", xgroup="g", index=i,
                     state=state, backend="local", project="p", region="r", image_uri="img",
                     args=("--lr", str(i)), url=f"http://127.0.0.1/ui/jobs/{i}",
                     created="2026-01-01T00:00:00Z")


def test_sweep_display_and_data():
    settings = resolve_settings({"backend": "local"}, gpu=False, env={})
    sweep = Sweep(JobGroup("g", records=[_record(2, "RUNNING"), _record(1, "SUCCEEDED")],
                           settings=settings,
                           backend=lambda: pytest.fail("no backend needed to display")))
    assert [j.display_name for j in sweep.jobs] == ["job_1", "job_2"]  # by index
    assert sweep.states == {"RUNNING": 1, "SUCCEEDED": 1} and not sweep.done
    assert sweep.rows()[1] == {"name": "job_2", "state": "RUNNING", "args": "--lr 2",
                               "created": "2026-01-01T00:00:00Z",
                               "link": "http://127.0.0.1/ui/jobs/2"}
    text = repr(sweep)
    assert "job_2  RUNNING" in text and "1 RUNNING, 1 SUCCEEDED" in text
    html = sweep._repr_html_()
    assert html.count("<tr>") == 3 and "href='http://127.0.0.1/ui/jobs/1'" in html


def test_magics_docstring_holds_the_parser_help():
    from caliban_jupyter.notebook.magics import CalibanMagics

    doc = CalibanMagics.caliban_cloud.__doc__
    for flag in ("--nogpu", "--gpu_spec", "--experiment_config", "--dir", "--capture",
                 "--dry_run", "--backend"):
        assert flag in doc
    assert "--xgroup" in CalibanMagics.caliban_status.__doc__


def test_load_ext_registers_magics_and_config():
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    try:
        ip.run_line_magic("load_ext", "caliban_jupyter")
        assert ip.find_cell_magic("caliban_cloud") is not None
        for name in ("status", "stop", "resubmit", "logs", "config"):
            assert ip.find_line_magic(f"caliban_{name}") is not None
        ip.run_line_magic("config", 'Caliban.region = "europe-west4"')
        from caliban_jupyter.notebook.session import get_config

        assert get_config().session() == {"region": "europe-west4"}
        with pytest.raises(Exception, match="unrecognized"):
            ip.run_line_magic("caliban_status", "--nope")
    finally:
        InteractiveShell.clear_instance()


def test_config_function_is_not_shadowed_by_a_submodule() -> None:
    """After %load_ext (which imports the magics and the session settings),
    ``caliban_jupyter.config()`` is still the API function, not a module."""
    import subprocess
    import sys

    code = ("import caliban_jupyter.notebook.magics, caliban_jupyter.notebook.api\n"
            "import caliban_jupyter\n"
            "print(caliban_jupyter.config(backend='local').settings.backend)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "local"


@pytest.mark.parametrize("value", [{1, 2}, 5, ({"lr": 1},), b"exp.json"])
def test_api_experiment_config_of_a_wrong_type_is_one_error(tmp_path, monkeypatch, value):
    import caliban_jupyter
    from caliban_jupyter.errors import ExperimentConfigError

    (tmp_path / "train.py").write_text("print(1)\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExperimentConfigError, match="a dict, a list of dicts, or the path"):
        caliban_jupyter.cloud("train.py", backend="local", dry_run=True,
                              experiment_config=value)
