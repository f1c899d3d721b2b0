"""Dockerfile text (pure) and the build/push stream parsers (pure)."""

from __future__ import annotations

import json

import pytest

from caliban_jupyter.errors import BuildError, PushError
from caliban_jupyter.events import BuildOutput, BuildStep, Event, PushProgress
from caliban_jupyter.packaging.dockerfile import DockerfileSpec, render_dockerfile
from caliban_jupyter.packaging.streams import BuildStream, PushStream, push_advice


def _lines(text: str) -> list[str]:
    return text.strip().splitlines()


def _index(lines: list[str], prefix: str) -> int:
    return next(i for i, ln in enumerate(lines) if ln.startswith(prefix))


def test_minimal_dockerfile_runs_entrypoint_as_fixed_user():
    text = render_dockerfile(DockerfileSpec("img:1", ("python3", "-m", "trainer.train")))
    lines = _lines(text)
    assert lines[0] == "FROM img:1"
    assert lines[-1] == 'ENTRYPOINT ["python3", "-m", "trainer.train"]'
    assert lines[-2] == "USER caliban"
    assert "--uid 1000" in text
    assert "WORKDIR /usr/app" in lines
    assert 'COPY --chown=caliban:caliban ["code/", "/usr/app/"]' in lines
    assert "apt-get" not in text and "pip install" not in text


def test_layer_order_base_apt_deps_dirs_code_generated():
    spec = DockerfileSpec(
        "base", ("bash", "run.sh"), apt_packages=("curl", "git"),
        requirements=("requirements.txt",), setup_files=("setup.py",), extras=("gpu", "tf"),
        dirs=("data", "models/big"), code=True, generated=True,
    )
    lines = _lines(render_dockerfile(spec))
    order = [
        _index(lines, "FROM"),
        _index(lines, "RUN apt-get update"),
        _index(lines, 'COPY ["deps/requirements/", "/tmp/caliban-requirements/"]'),
        _index(lines, "RUN cd /tmp/caliban-requirements && python3 -m pip install "
                      "--no-cache-dir -r requirements.txt"),
        _index(lines, 'COPY ["deps/setup/"'),
        _index(lines, "RUN cd /tmp/caliban-setup"),
        _index(lines, 'COPY --chown=caliban:caliban ["dirs/0/", "/usr/app/data/"]'),
        _index(lines, 'COPY --chown=caliban:caliban ["dirs/1/", "/usr/app/models/big/"]'),
        _index(lines, 'COPY --chown=caliban:caliban ["code/"'),
        _index(lines, 'COPY --chown=caliban:caliban ["gen/"'),
        _index(lines, "USER caliban"),
        _index(lines, "ENTRYPOINT"),
    ]
    assert order == sorted(order)
    assert "apt-get install -y --no-install-recommends curl git" in lines[order[1]]
    assert "'.[gpu,tf]'" in lines[order[5]]


def test_cpu_extras_and_no_code():
    spec = DockerfileSpec("b", ("python3", "caliban_main.py"), setup_files=("pyproject.toml",),
                          extras=("cpu",), code=False, generated=True)
    text = render_dockerfile(spec)
    assert "'.[cpu]'" in text
    assert '["code/"' not in text
    assert '["gen/", "/usr/app/"]' in text


def test_dir_dot_copies_to_workdir():
    text = render_dockerfile(DockerfileSpec("b", ("x",), dirs=(".",)))
    assert '["dirs/0/", "/usr/app/"]' in text


def test_pip_works_on_debian_and_no_secret_env():
    text = render_dockerfile(DockerfileSpec("b", ("x",), requirements=("r.txt",)))
    env = next(ln for ln in _lines(text) if ln.startswith("ENV "))
    assert "PIP_BREAK_SYSTEM_PACKAGES=1" in env
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in text
    assert "KEY" not in env.upper().replace("PIP_", "")


def test_shell_metacharacters_are_quoted():
    text = render_dockerfile(DockerfileSpec("b", ("python3", "a b.py"), apt_packages=("x;rm",)))
    assert "'x;rm'" in text
    assert json.loads(_lines(text)[-1].removeprefix("ENTRYPOINT ")) == ["python3", "a b.py"]


def test_deterministic():
    spec = DockerfileSpec("b", ("x",), dirs=("d",), apt_packages=("p",))
    assert render_dockerfile(spec) == render_dockerfile(spec)


# -- build stream ---------------------------------------------------------------------------

def _feed(chunks: list[dict]) -> tuple[BuildStream, list[Event]]:
    events: list[Event] = []
    stream = BuildStream(events.append, "base:1")
    for c in chunks:
        stream.feed(c)
    stream.close()
    return stream, events


def test_build_stream_steps_cache_and_output():
    stream, events = _feed([
        {"stream": "Step 1/3 : FROM base:1\n"},
        {"stream": " ---> 1234\n"},
        {"stream": "Step 2/3 : RUN echo hi\n"},
        {"stream": " ---> Using cache\n ---> abcd\n"},
        {"stream": "Step 3/3 : COPY code/ /usr/app/\n"},
        {"stream": " ---> Running in ff\n"},
        {"stream": "\x1b[91mpartial "},
        {"stream": "line\x1b[0m\n"},
        {"stream": "Removing intermediate container ff\n"},
        {"aux": {"ID": "sha256:feed"}},
        {"stream": "Successfully built feed\n"},
    ])
    assert stream.cached == {1: False, 2: True, 3: False}
    assert stream.image_id == "sha256:feed"
    assert [e for e in events if isinstance(e, BuildOutput)] == [BuildOutput("partial line")]
    assert BuildStep(2, 3, "RUN echo hi", cached=True) in events


def test_build_stream_error_names_step_output_and_advice():
    with pytest.raises(BuildError) as info:
        _feed([
            {"stream": "Step 4/9 : RUN apt-get update && apt-get install -y nope\n"},
            {"stream": "E: Unable to locate package nope\n"},
            {"error": "The command '/bin/sh -c apt-get ...' returned a non-zero code: 100",
             "errorDetail": {"code": 100}},
        ])
    msg = str(info.value)
    assert "step 4/9 failed: RUN apt-get update" in msg
    assert "Unable to locate package nope" in msg
    assert "non-zero code: 100" in msg
    assert "apt_packages" in msg


def test_build_stream_missing_base_image_advice():
    with pytest.raises(BuildError, match="base image base:1"):
        _feed([{"stream": "Step 1/5 : FROM base:1\n"},
               {"error": "pull access denied for base"}])


# -- push stream ----------------------------------------------------------------------------

def test_push_progress_sums_layers_and_clamps():
    events: list[Event] = []
    stream = PushStream(events.append, "127.0.0.1:5000/caliban")
    for c in [
        {"status": "Preparing", "id": "a", "progressDetail": {}},
        {"status": "Pushing", "id": "a", "progressDetail": {"current": 50, "total": 100}},
        {"status": "Pushing", "id": "b", "progressDetail": {"current": 900, "total": 300}},
        {"status": "Pushed", "id": "a", "progressDetail": {}},
        {"status": "x", "aux": {"Tag": "t", "Digest": "sha256:d", "Size": 1}},
    ]:
        stream.feed(c)
    progress = [e for e in events if isinstance(e, PushProgress)]
    assert [(p.current, p.total) for p in progress] == [(50, 100), (350, 400), (400, 400)]
    assert stream.digest == "sha256:d"


@pytest.mark.parametrize(("repo", "advice"), [
    ("us-central1-docker.pkg.dev/p/r/caliban",
     "gcloud auth configure-docker us-central1-docker.pkg.dev"),
    ("registry.example.com:5000/caliban", "docker login registry.example.com:5000"),
])
def test_push_auth_error_says_how_to_log_in(repo, advice):
    stream = PushStream(lambda e: None, repo)
    with pytest.raises(PushError) as info:
        stream.feed({"error": "denied: Permission denied", "errorDetail": {}})
    assert advice in str(info.value)
    assert advice in push_advice(repo)


def test_push_other_error_is_not_auth_advice():
    stream = PushStream(lambda e: None, "127.0.0.1:5000/c")
    with pytest.raises(PushError) as info:
        stream.feed({"error": "connection refused"})
    assert "docker login" not in str(info.value)
