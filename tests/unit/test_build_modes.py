"""--build: the setting, the choice before anything is built, and every refusal's message."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from caliban_jupyter.errors import ConfigError, UsageError
from caliban_jupyter.packaging.engine import probe_engine
from caliban_jupyter.packaging.modes import choose_build
from caliban_jupyter.service.backends import backend_type
from caliban_jupyter.settings import resolve_settings

TODAY = dt.date(2026, 1, 1)  # before the listed images' end of availability


def settings(tmp_path: Path, env: dict[str, str] | None = None, config: dict | None = None,
             **flags):
    if config is not None:
        (tmp_path / ".calibanconfig.json").write_text(json.dumps(config))
    return resolve_settings(flags, gpu=False, cwd=tmp_path, env=env or {})


def choose(s, *, image_tag=None, accelerator=None, engine=True):
    return choose_build(s, backend_type(s.backend), image_tag=image_tag,
                        accelerator_type=accelerator, today=TODAY,
                        engine=(engine, "unix:///var/run/docker.sock"))


def test_build_setting_resolves_like_the_others(tmp_path):
    assert settings(tmp_path).build == "auto"
    s = settings(tmp_path, env={"CALIBAN_BUILD": "package",
                                "CALIBAN_STAGING_BUCKET": "gs://b/pre/"},
                 config={"build": "docker", "executor_image": "tf-2.17-cpu"})
    assert (s.build, s.staging_bucket, s.executor_image) == ("package", "gs://b/pre",
                                                             "tf-2.17-cpu")
    assert s.sources["build"] == "environment CALIBAN_BUILD"
    assert s.sources["executor_image"] == ".calibanconfig.json"
    assert settings(tmp_path, build="cloudbuild").sources["build"] == "flag"
    with pytest.raises(ConfigError, match="unknown build mode 'kaniko'.*'package'"):
        settings(tmp_path, build="kaniko")
    with pytest.raises(ConfigError, match="staging_bucket 'my-bucket'.*gs://BUCKET"):
        settings(tmp_path, staging_bucket="my-bucket")


def test_auto_is_docker_when_an_engine_answers_else_package(tmp_path):
    s = settings(tmp_path, backend="local")
    assert choose(s).mode == "docker"
    chosen = choose(s, engine=False)
    assert (chosen.mode, chosen.reason) == (
        "package", "no Docker engine answers at unix:///var/run/docker.sock")
    # Locally the package runs on the base image, as pythonPackageSpec.
    assert chosen.executor is not None and chosen.executor.uri == "python:3.11-slim"
    assert chosen.python_package_spec and chosen.staging is None


def test_an_executor_image_means_package(tmp_path):
    chosen = choose(settings(tmp_path, backend="local", executor_image="tf-2.17-cpu"))
    assert chosen.mode == "package"
    assert chosen.executor.uri == "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest"


def test_vertex_executor_choice(tmp_path):
    base = {"backend": "vertex", "project_id": "p", "staging_bucket": "gs://b", "build": "package"}
    # No Vertex prebuilt training image is current (spec/executor_images.json): every kind
    # defaults to a maintained image run as a containerSpec that installs the package.
    for accelerator in (None, "NVIDIA_TESLA_T4", "TPU_V3"):
        default = choose(settings(tmp_path, **base), accelerator=accelerator)
        assert default.executor.name == "python-3.12" and not default.python_package_spec
        assert not default.warnings
    named = choose(settings(tmp_path, executor_image="pytorch-2.4-gpu", **base),
                   accelerator="NVIDIA_TESLA_T4")
    assert named.executor.name == "pytorch-2.4-gpu" and named.python_package_spec
    own = choose(settings(tmp_path, base_image="python:3.12", **base))
    assert (own.executor.uri, own.python_package_spec) == ("python:3.12", False)
    expired = choose_build(settings(tmp_path, executor_image="sklearn-1.6-cpu", **base),
                           backend_type("vertex"), image_tag=None,
                           accelerator_type=None, today=dt.date(2026, 11, 30))
    assert expired.warnings and "end of availability on 2026-07-11" in expired.warnings[0]
    assert "--executor_image python-3.12" in expired.warnings[0]


def test_package_on_vertex_needs_a_staging_bucket(tmp_path):
    with pytest.raises(UsageError) as e:
        choose(settings(tmp_path, backend="vertex", project_id="p", build="package"))
    assert "--build package uploads your code to Cloud Storage for Vertex AI, and no " \
           "staging bucket is set: pass --staging_bucket gs://BUCKET[/PREFIX]" in str(e.value)
    with pytest.raises(UsageError) as e:
        choose(settings(tmp_path, backend="vertex", project_id="p"), engine=False)
    assert str(e.value).startswith("no Docker engine answers at unix:///var/run/docker.sock, "
                                   "so --build auto chose package")
    assert "start a Docker engine and use --build docker" in str(e.value)


def test_cloudbuild_refusals(tmp_path):
    with pytest.raises(UsageError, match="with --backend local use --build docker or --build "
                                         "package"):
        choose(settings(tmp_path, backend="local", build="cloudbuild"))
    with pytest.raises(UsageError, match="pass --registry REGION-docker.pkg.dev/PROJECT/REPO"):
        choose(settings(tmp_path, backend="vertex", project_id="p", build="cloudbuild",
                        staging_bucket="gs://b"))
    with pytest.raises(UsageError, match="--build cloudbuild uploads your code"):
        choose(settings(tmp_path, backend="vertex", project_id="p", build="cloudbuild",
                        registry="us-docker.pkg.dev/p/r"))
    ok = choose(settings(tmp_path, backend="vertex", project_id="p", build="cloudbuild",
                         registry="us-docker.pkg.dev/p/r", staging_bucket="gs://b"))
    assert (ok.mode, ok.staging) == ("cloudbuild", "gs://b")


def test_dockerfile_only_features_are_refused_in_package_mode(tmp_path):
    s = settings(tmp_path, config={"apt_packages": ["libgl1"]}, backend="local",
                 build="package")
    with pytest.raises(UsageError, match=r"apt packages \(libgl1, from .calibanconfig.json\) "
                                         r"need a Docker build"):
        choose(s)


def test_contradictions(tmp_path):
    with pytest.raises(UsageError, match="drop --build package, or drop --image_tag"):
        choose(settings(tmp_path, backend="local", build="package"), image_tag="img:1")
    assert choose(settings(tmp_path, backend="local"), image_tag="img:1").mode == "image"
    with pytest.raises(UsageError, match="--executor_image is the prebuilt image of --build "
                                         "package"):
        choose(settings(tmp_path, backend="local", build="docker", executor_image="x:1"))


def test_probe_of_an_engine_that_is_not_there(tmp_path):
    assert probe_engine({"DOCKER_HOST": f"unix://{tmp_path}/none.sock"}) == (
        False, f"unix://{tmp_path}/none.sock")
    assert probe_engine({"DOCKER_HOST": "tcp://127.0.0.1:9"})[0] is False


# ------------------------------------------------------------- the CLI, without Docker


@pytest.fixture
def project(tmp_path):
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "__init__.py").write_text("")
    (tmp_path / "trainer" / "train.py").write_text("import sys\nprint(sys.argv)\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("1,2\n")
    (tmp_path / "exp.json").write_text('{"lr": [0.1, 0.01]}')
    return tmp_path


def caliban(cwd, *args):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CALIBAN_BUILD", "CALIBAN_BASE_IMAGE", "CALIBAN_STAGING",
                                "CALIBAN_EXECUTOR", "PROJECT_ID"))}
    env["DOCKER_HOST"] = f"unix://{cwd}/no-docker-here.sock"
    return subprocess.run([sys.executable, "-m", "caliban_jupyter.cli", *args], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=60)


def test_dry_run_without_docker_gives_python_package_bodies_and_the_upload_plan(project):
    r = caliban(project, "cloud", "--dry_run", "--format", "json", "--project_id", "proj",
                "--staging_bucket", "gs://bkt/stage", "--nogpu", "--xgroup", "g1",
                "--executor_image", "pytorch-2.4-cpu", "-d", "data",
                "--experiment_config", "exp.json", "trainer.train", "--", "--epochs", "3")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    build = out["build"]
    assert build["mode"] == "package"
    assert build["reason"].startswith("executor_image pytorch-2.4-cpu given")
    assert build["runs_as"] == "pythonPackageSpec"
    uploads = build["uploads"]
    assert [u["module"] for u in uploads] == ["caliban_data", "caliban_job"]
    for u in uploads:
        assert u["uri"] == f"gs://bkt/stage/caliban/packages/{u['name']}"
        assert u["name"].startswith(f"{u['module']}-0+") and u["name"].endswith(".tar.gz")
    assert uploads[0]["files"] == 1 and uploads[0]["content_bytes"] == 4
    assert build["requirements"]["installed"].startswith("when each job starts")
    image = "us-docker.pkg.dev/vertex-ai/training/pytorch-xla.2-4.py310:latest"
    assert build["executor"]["uri"] == image
    assert [b["jobSpec"]["workerPoolSpecs"][0]["pythonPackageSpec"] for b in out["jobs"]] == [
        {"executorImageUri": image, "packageUris": [u["uri"] for u in uploads],
         "pythonModule": "caliban_job", "args": ["--epochs", "3", "--lr", lr]}
        for lr in ("0.1", "0.01")]
    assert all("containerSpec" not in b["jobSpec"]["workerPoolSpecs"][0] for b in out["jobs"])


def test_auto_without_docker_dry_run_says_why_in_one_line(project):
    r = caliban(project, "cloud", "--dry_run", "--project_id", "proj", "--nogpu",
                "--staging_bucket", "gs://bkt", "trainer.train")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1] == f"Build: package (no Docker engine answers at unix://{project}/" \
                       "no-docker-here.sock)"
    assert any(line.startswith("  runs on:      python:3.12-slim (python-3.12, available "
                               "until 2028-10-02), as containerSpec") for line in lines)
    assert any("installed when each job starts" in line for line in lines)
    # The JSON says what the preflight found, once: the engine it asked.
    r = caliban(project, "cloud", "--dry_run", "--format", "json", "--project_id", "proj",
                "--nogpu", "--staging_bucket", "gs://bkt", "trainer.train")
    assert json.loads(r.stdout)["preflight"] == {
        "docker_engine": {"answers": False, "at": f"unix://{project}/no-docker-here.sock"}}
    # Nothing to ask when the build cannot be Docker's: no probe at all.
    r = caliban(project, "cloud", "--dry_run", "--format", "json", "--project_id", "proj",
                "--nogpu", "--staging_bucket", "gs://bkt", "--build", "package",
                "trainer.train")
    assert json.loads(r.stdout)["preflight"] == {}


def test_package_dry_run_names_an_image_current_today(project):
    """Issue 19: `--build package` with no --executor_image names an image Vertex AI still
    runs, and says until when."""
    import json as _json

    from caliban_jupyter.spec.executors import resolve_executor

    r = caliban(project, "cloud", "--dry_run", "--build", "package", "--project_id", "proj",
                "--nogpu", "--staging_bucket", "gs://bkt", "trainer.train")
    assert r.returncode == 0, r.stderr
    [line] = [x for x in r.stdout.splitlines() if x.startswith("  runs on:")]
    image = resolve_executor(None, region="us-central1", mode="cpu")
    assert line.startswith(f"  runs on:      {image.uri} ({image.name}, available until ")
    assert dt.date.fromisoformat(image.end_of_availability) > dt.date(2026, 12, 8)
    assert "warning" not in r.stdout
    r = caliban(project, "cloud", "--dry_run", "--format", "json", "--build", "package",
                "--project_id", "proj", "--nogpu", "--staging_bucket", "gs://bkt", "trainer.train")
    out = _json.loads(r.stdout)
    [pool] = out["jobs"][0]["jobSpec"]["workerPoolSpecs"]
    assert pool["containerSpec"]["imageUri"] == "python:3.12-slim"
    assert pool["containerSpec"]["command"][:2] == ["sh", "-c"]
    assert "/gcs/bkt/caliban/packages/caliban_job-" in pool["containerSpec"]["command"][2]


def test_bad_input_is_one_line(project):
    r = caliban(project, "cloud", "--dry_run", "--project_id", "proj", "--nogpu",
                "--build", "package", "--executor_image", "pytorch-9-gpu", "--staging_bucket",
                "gs://b", "trainer.train")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "'pytorch-9-gpu' is not a known Vertex prebuilt training image" in r.stderr
    r = caliban(project, "cloud", "--dry_run", "--project_id", "proj", "--nogpu",
                "trainer.train")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no staging bucket is set" in r.stderr


def test_docker_mode_without_an_engine_says_how_to_start_one_or_which_mode(monkeypatch,
                                                                          tmp_path):
    from caliban_jupyter.errors import DockerError
    from caliban_jupyter.packaging.docker import docker_client

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    with pytest.raises(DockerError) as e:
        docker_client()
    msg = str(e.value)
    assert "cannot reach a Docker engine" in msg and "scripts/services.sh" in msg
    assert "--build package runs your code as a package on a prebuilt image" in msg
    assert "--build cloudbuild builds the image on Google Cloud Build" in msg


def test_the_notebook_dry_run_shows_the_build_plan(project, monkeypatch):
    from caliban_jupyter.service.dryrun import DryRun
    from caliban_jupyter.service.plan import CloudRequest, plan_from_request

    monkeypatch.setenv("DOCKER_HOST", f"unix://{project}/none.sock")
    plan = plan_from_request(CloudRequest(program="print(1)", cwd=str(project), nogpu=True,
                                          backend="local", dry_run=True, env={}))
    dry = DryRun(plan)
    build = dry.build()
    assert build["mode"] == "package" and build["executor"]["uri"] == "python:3.11-slim"
    [upload] = build["uploads"]
    assert upload["uri"].startswith("file://") and "/emulator/staging/caliban/packages/" in \
        upload["uri"]
    [body] = dry.bodies()
    assert body["jobSpec"]["workerPoolSpecs"][0]["pythonPackageSpec"]["packageUris"] == [
        upload["uri"]]
    assert "Build: package (no Docker engine answers at" in repr(dry)
