"""`caliban cloud` as a user runs it: flags, settings, dry run, and one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from support import caliban


def dry_json(cwd, *args, **kw):
    """The request bodies of a JSON dry run (its "jobs"; "build" says how they run)."""
    r = caliban(cwd, "cloud", "--dry_run", "--format", "json", "--image_tag", "img:1",
                *args, **kw)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["build"] == {"mode": "image", "image": "img:1"}
    return out["jobs"]


def assert_one_line_error(r, pattern):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert re.search(pattern, r.stderr, re.S), r.stderr
    assert r.stdout == ""


def test_dry_run_json_is_the_exact_custom_job_bodies(project):
    (project / "exp.json").write_text('{"lr": [0.1, 0.01], "deep": true, "skip": false}')
    bodies = dry_json(project, "--project_id", "p", "--xgroup", "g1", "--name", "run",
                      "--experiment_config", "exp.json", "trainer.train", "--", "--epochs", "3")
    assert len(bodies) == 2
    first = bodies[0]
    assert re.fullmatch(r"run_\d{8}_\d{6}_1", first["displayName"])
    assert bodies[1]["displayName"].endswith("_2")
    assert first["jobSpec"] == {"workerPoolSpecs": [{
        "machineSpec": {"machineType": "n1-standard-8",
                        "acceleratorType": "NVIDIA_TESLA_P100", "acceleratorCount": 1},
        "replicaCount": "1",
        "containerSpec": {"imageUri": "img:1",
                          "args": ["--epochs", "3", "--lr", "0.1", "--deep"]},
    }]}
    assert first["labels"] == {"job_name": "run", "gpu_enabled": "true",
                               "tpu_enabled": "false", "xgroup": "g1", "caliban_index": "1",
                               "epochs": "3",
                               "lr": "0_1", "deep": ""}


def test_nogpu_defaults_to_cpu_machine(project):
    (body,) = dry_json(project, "--backend", "local", "--nogpu", "trainer.train")
    spec = body["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]
    assert spec == {"machineType": "n1-highcpu-32"}
    assert body["labels"]["gpu_enabled"] == "false"


def test_fixed_gpu_machine_picked(project):
    (body,) = dry_json(project, "--project_id", "p", "--gpu_spec", "4xa100", "trainer.train")
    spec = body["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]
    assert spec["machineType"] == "a2-highgpu-4g"
    assert spec["acceleratorCount"] == 4


def test_label_flag_beats_arg_label(project):
    (body,) = dry_json(project, "--project_id", "p", "-l", "lr=fixed", "--label", "team=ml",
                       "trainer.train", "--", "--lr", "0.5")
    assert body["labels"]["lr"] == "fixed"
    assert body["labels"]["team"] == "ml"


def test_experiment_config_from_stdin(project):
    bodies = dry_json(project, "--project_id", "p", "--experiment_config", "stdin",
                      "trainer.train", stdin='// sweep\n{"[a,b]": [[1, 2], [3, 4]]}')
    assert [b["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"] for b in bodies] == [
        ["--a", "1", "--b", "2"], ["--a", "3", "--b", "4"]]


def test_settings_from_env_and_config(project):
    (project / ".calibanconfig.json").write_text('{"project_id": "cfg", "region": "europe-west4"}')
    (body,) = dry_json(project, "--nogpu", "trainer.train", env={"REGION": "us-east1"})
    assert body["displayName"].startswith("caliban_")
    r = caliban(project, "cloud", "--dry_run", "--nogpu", "--image_tag", "i:1", "trainer.train",
                env={"REGION": "us-east1"})
    assert "region:      us-east1" in r.stdout
    assert "project cfg" in r.stdout


def test_text_dry_run_lists_every_job(project):
    (project / "exp.json").write_text('{"x": [1, 2, 3]}')
    r = caliban(project, "cloud", "--dry_run", "--project_id", "p", "--image_tag", "i:1",
                "--experiment_config", "exp.json", "trainer.train")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("machine:") == 3
    assert "accelerator: 1 x NVIDIA_TESLA_P100" in r.stdout
    assert "3 jobs would be submitted." in r.stdout


def test_no_project_is_an_error_even_in_dry_run(project):
    r = caliban(project, "cloud", "--dry_run", "trainer.train")
    assert_one_line_error(r, r"--project_id.*PROJECT_ID.*project_id.*--backend local")


def test_args_before_double_dash_show_corrected_command(project):
    r = caliban(project, "cloud", "--backend", "local", "trainer.train", "--epochs", "3")
    assert r.returncode == 2
    r = caliban(project, "cloud", "--backend", "local", "trainer.train", "extra", "-l", "a=b")
    assert_one_line_error(r, r"unexpected argument\(s\) after trainer.train: extra.*"
                             r"caliban cloud --backend local trainer.train -l a=b -- extra")


def test_missing_module(project):
    r = caliban(project, "cloud", "--backend", "local", "trainer.nope")
    assert_one_line_error(r, r"module 'trainer.nope' not found")


def test_nogpu_with_gpu_spec(project):
    r = caliban(project, "cloud", "--backend", "local", "--nogpu", "--gpu_spec", "1xT4",
                "trainer.train")
    assert_one_line_error(r, r"--nogpu and --gpu_spec")


def test_bad_gpu_spec_suggests(project):
    r = caliban(project, "cloud", "--backend", "local", "--gpu_spec", "2xV10",
                "trainer.train")
    assert_one_line_error(r, r"V100")


def test_bad_experiment_config_names_line(project):
    (project / "exp.json").write_text('{\n  "lr": [0.1,,]\n}')
    r = caliban(project, "cloud", "--backend", "local", "--experiment_config", "exp.json",
                "trainer.train")
    assert_one_line_error(r, r"exp.json.*line 2")


def test_bad_xgroup(project):
    r = caliban(project, "cloud", "--backend", "local", "--xgroup", "Bad Group!",
                "trainer.train")
    assert_one_line_error(r, r"--xgroup")


def test_helpfull(project):
    r = caliban(project, "cloud", "--helpfull")
    assert r.returncode == 0
    assert ".calibanconfig.json keys" in r.stdout and "--tpu_spec" in r.stdout


def test_image_without_tag_is_the_repository_a_build_would_use(project):
    r = caliban(project, "cloud", "--dry_run", "--format", "json", "--backend", "local",
                "--nogpu", "--registry", "127.0.0.1:5000/team", "trainer.train")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    uri = out["jobs"][0]["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["imageUri"]
    assert uri == "127.0.0.1:5000/team/caliban-trainer:<content-hash>"
    assert out["build"]["image"] == uri


def test_dry_run_imports_neither_docker_nor_google(project):
    code = ("import sys; from caliban_jupyter.cli import main; "
            "rc = main(['cloud', '--dry_run', '--backend', 'local', 'trainer.train']); "
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('docker', 'proto') or "
            "m.startswith(('google.cloud.aiplatform', 'google.api_core', 'google.auth')));"
            "print(heavy); sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_too_many_labels_fail_before_anything_is_built(project):
    labels = [a for i in range(61) for a in ("-l", f"k{i}=v")]
    r = caliban(project, "cloud", "--backend", "local", *labels, "trainer.train")
    assert r.returncode == 2
    assert "at most 64" in r.stderr and "Traceback" not in r.stderr


def test_unreachable_job_service_fails_before_anything_is_built(project, tmp_path_factory):
    """An endpoint that refuses connections is reported before the build (the Docker engine
    here is unreachable too, and never asked), with nothing recorded."""
    home = tmp_path_factory.mktemp("home")
    r = caliban(project, "cloud", "--backend", "local", "--nogpu", "--xgroup", "g1",
                "trainer.train", env={"CALIBAN_HOME": str(home),
                                      "CALIBAN_ENDPOINT": "http://127.0.0.1:1",
                                      "DOCKER_HOST": "unix:///nonexistent.sock"})
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert re.search(r"caliban cloud: error: .*127\.0\.0\.1:1.*Nothing was built or "
                     r"submitted", r.stderr), r.stderr
    from caliban_jupyter.history import History

    with History(home / "history.sqlite") as history:
        assert history.group("g1") is None


def test_damaged_history_fails_before_anything_is_built(project, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    (home / "history.sqlite").write_bytes(b"not a database" * 400)
    r = caliban(project, "cloud", "--backend", "local", "--nogpu", "trainer.train",
                env={"CALIBAN_HOME": str(home), "CALIBAN_ENDPOINT": "http://127.0.0.1:1",
                     "DOCKER_HOST": "unix:///nonexistent.sock"})
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "caliban cloud: error: cannot open the job history" in r.stderr, r.stderr


@pytest.mark.parametrize("given", ["nosuch", "trainer/train.py", "../"])
def test_bad_dir_is_refused_by_the_dry_run_too(project, given):
    r = caliban(project, "cloud", "--dry_run", "--backend", "local", "-d", given,
                "trainer.train")
    assert_one_line_error(r, r"caliban cloud: error: --dir '\.\./' is outside|"
                             rf"caliban cloud: error: --dir '{re.escape(given)}' is not a "
                             "directory")


def test_missing_module_names_module_only(project):
    r = caliban(project, "cloud")
    assert_one_line_error(r, r"required: MODULE$")
    assert "_extra" not in r.stderr


def test_endpoint_flag_is_a_setting(project):
    r = caliban(project, "cloud", "--backend", "local", "--nogpu", "--endpoint",
                "http://127.0.0.1:1", "--xgroup", "ep", "trainer.train")
    # Checked before anything is built: nothing listens there.
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "127.0.0.1:1" in r.stderr
