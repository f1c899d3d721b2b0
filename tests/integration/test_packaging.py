"""Packaging against the real engine and registry: build, run, cache, push, failures."""

from __future__ import annotations

import http.server
import io
import json
import tarfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import write_tree

from caliban_jupyter.errors import BuildError, DockerError, PushError
from caliban_jupyter.events import BuildStep, Event, ImageReady, PushProgress, Warning_
from caliban_jupyter.packaging import BuildRequest, docker_client, ensure_image, plan_context
from caliban_jupyter.spec.target import classify_target

SECRET = "caliban-test-secret-" + uuid.uuid4().hex
SA_KEY = json.dumps({"type": "service_account", "private_key": SECRET})

TRAIN = """\
import sys
try:
    from trainer import util
except ImportError:  # run as a script: its own directory is on sys.path
    import util
print("module args:", sys.argv[1:], util.VALUE, open("data/d.txt").read().strip())
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    # A nonce makes every run's content hash new, though the registry outlives the tests.
    write_tree(tmp_path, {
        "trainer/__init__.py": "",
        "trainer/train.py": TRAIN,
        "trainer/util.py": "VALUE = 'v1'\n",
        "trainer/nonce.txt": uuid.uuid4().hex,
        "scripts/run.sh": 'echo "bash args: $*"; exit "${1:-0}"\n',
        "data/d.txt": "data-ok\n",
        "requirements.txt": "numpy\n",  # satisfied by the base image: no network needed
    })
    return tmp_path


@pytest.fixture
def cleanup(docker_client) -> Iterator[list[str]]:
    tags: list[str] = []
    yield tags
    from docker.errors import APIError

    for tag in tags:
        try:
            docker_client.images.remove(tag, force=True)
        except APIError:
            pass


def _run(client, tag: str, args: list[str]) -> tuple[int, str]:
    container = client.containers.create(tag, args, network_mode="none")
    try:
        container.start()
        status = container.wait(timeout=120)["StatusCode"]
        return status, container.logs().decode()
    finally:
        container.remove(force=True)


def _request(project: Path, base_image: str, target: str | None = "trainer.train", **kw):
    t = classify_target(target, project) if target else None
    return BuildRequest(str(project), t, base_image=base_image, image_name="caliban-test", **kw)


@pytest.mark.docker
def test_module_script_and_bash_run_with_args_and_exit_status(
        docker_client, base_image, project, cleanup):
    cases = [
        ("trainer.train", ["3", "--x=1"], "module args: ['3', '--x=1'] v1 data-ok"),
        ("trainer/train.py", ["0"], "module args: ['0'] v1 data-ok"),
        ("scripts/run.sh", ["4", "b c"], "bash args: 4 b c"),
    ]
    for target, args, expected in cases:
        req = _request(project, base_image, target, dirs=("data",))
        result = ensure_image(req, client=docker_client)
        cleanup.append(result.tag)
        assert result.built and not result.pushed
        status, out = _run(docker_client, result.tag, args)
        assert out.strip() == expected
        assert status == int(args[0])


@pytest.mark.docker
def test_generated_code_with_entrypoint_and_pins(docker_client, base_image, project, cleanup):
    (project / "requirements.txt").unlink()
    req = _request(project, base_image, None, dirs=("data",),
                   generated_files={"caliban_main.py": b"import numpy, sys\n"
                                    b"print('gen', numpy.__name__, sys.argv[1:])\n"},
                   entrypoint=("python3", "caliban_main.py"), requirements=("numpy",))
    result = ensure_image(req, client=docker_client)
    cleanup.append(result.tag)
    status, out = _run(docker_client, result.tag, ["a"])
    assert (status, out.strip()) == (0, "gen numpy ['a']")


def _layer_contents(client, tag: str) -> Iterator[tuple[str, bytes]]:
    """(name, content) of every small file of every layer of the saved image."""
    buf = io.BytesIO()
    for chunk in client.images.get(tag).save():
        buf.write(chunk)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as image:
        for member in image.getmembers():
            if not member.name.endswith("layer.tar"):
                continue
            layer_file = image.extractfile(member)
            assert layer_file is not None
            with tarfile.open(fileobj=layer_file) as layer:
                for f in layer.getmembers():
                    data = b""
                    if f.isfile() and f.size < 1 << 20:
                        extracted = layer.extractfile(f)
                        data = extracted.read() if extracted else b""
                    yield f.name, data


@pytest.mark.docker
def test_no_credentials_or_ignored_files_in_any_layer(
        docker_client, base_image, registry, project, cleanup):
    write_tree(project, {
        "run.py": "print('root script')\n",
        "key.json": SA_KEY,                       # the cloud_key
        "other-key.json": SA_KEY,                 # a stray key: left out with a warning
        "sub/id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\n" + SECRET,
        ".env": "TOKEN=" + SECRET,
        ".git/config": SECRET,
        "trainer/__pycache__/x.cpython-311.pyc": "x",
        ".venv/pyvenv.cfg": "home=/usr/bin",
        "logs/run.log": "l", "trainer/keep.log": "k",
        ".dockerignore": "**/*.log\n!trainer/keep.log\n",
    })
    events: list[Event] = []
    req = _request(project, base_image, "run.py", registry=registry,
                   cloud_key=str(project / "key.json"),
                   include=("key.json",))  # naming the cloud key does not let it in
    result = ensure_image(req, events.append, client=docker_client)
    cleanup.append(result.tag)
    warned = " ".join(e.text for e in events if isinstance(e, Warning_))
    assert "other-key.json" in warned and "sub/id_rsa" in warned
    names: set[str] = set()
    for name, data in _layer_contents(docker_client, result.tag):
        assert SECRET.encode() not in data, f"secret found in {name}"
        names.add(name)
    app = {n.removeprefix("usr/app/") for n in names if n.startswith("usr/app/")}
    assert {"run.py", "trainer/train.py", "trainer/keep.log", "data/d.txt"} <= app
    for bad in ("key.json", "other-key.json", "sub/id_rsa", ".env", ".git/config",
                "logs/run.log", ".venv/pyvenv.cfg", "trainer/__pycache__/x.cpython-311.pyc",
                ".dockerignore"):
        assert bad not in app
    status, out = _run(docker_client, result.tag, [])
    assert (status, out.strip()) == (0, "root script")


def _steps(events: list[Event]) -> dict[str, bool]:
    final: dict[int, BuildStep] = {}
    for e in events:
        if isinstance(e, BuildStep):
            final[e.index] = e
    return {s.instruction: s.cached for s in final.values()}


@pytest.mark.docker
def test_code_change_rebuilds_only_code_layer_and_noop_does_nothing(
        docker_client, base_image, registry, project, cleanup):
    req = _request(project, base_image, dirs=("data",), registry=registry)
    first = ensure_image(req, client=docker_client)
    cleanup.append(first.tag)
    assert (first.built, first.pushed) == (True, True)

    events: list[Event] = []
    again = ensure_image(req, events.append, client=docker_client)
    assert again == type(first)(first.tag, built=False, pushed=False)
    assert not [e for e in events if isinstance(e, (BuildStep, PushProgress))]
    assert events[-1] == ImageReady(first.tag, built=False, pushed=False)

    (project / "trainer" / "util.py").write_text("VALUE = 'v2'\n")
    events = []
    changed = ensure_image(req, events.append, client=docker_client)
    cleanup.append(changed.tag)
    assert changed.tag != first.tag and (changed.built, changed.pushed) == (True, True)
    steps = _steps(events)
    code_step = next(i for i in steps if '["code/"' in i)
    before = list(steps)[1:list(steps).index(code_step)]   # FROM never reports a cache hit
    assert any("pip install" in i for i in before) and any('["dirs/0/"' in i for i in before)
    assert all(steps[i] for i in before), steps
    assert steps[code_step] is False
    status, out = _run(docker_client, changed.tag, ["0"])
    assert "v2" in out and status == 0


@pytest.mark.docker
def test_failing_pip_step_is_a_clear_build_error(docker_client, base_image, project):
    (project / "requirements.txt").write_text("--no-index\ncaliban-no-such-package==9.9\n")
    with pytest.raises(BuildError) as info:
        ensure_image(_request(project, base_image), client=docker_client)
    msg = str(info.value)
    assert "failed: RUN cd /tmp/caliban-requirements && python3 -m pip install" in msg
    assert "caliban-no-such-package" in msg
    assert "requirements.txt" in msg  # what to fix


class _DenyingRegistry(http.server.BaseHTTPRequestHandler):
    """A registry that wants credentials for everything, as a private one would."""

    def _deny(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="caliban-test"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _deny  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.docker
def test_push_refused_says_how_to_log_in(docker_client, base_image, project, cleanup):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DenyingRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"127.0.0.1:{server.server_address[1]}"
    try:
        req = _request(project, base_image, registry=host)
        cleanup.append(plan_context(req).tag)
        with pytest.raises(PushError) as info:
            ensure_image(req, client=docker_client)
        assert f"docker login {host}" in str(info.value)
    finally:
        server.shutdown()
        server.server_close()


def test_no_engine_is_a_docker_error_saying_how_to_start(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(DockerError) as info:
        docker_client()
    assert "scripts/services.sh" in str(info.value) and "DOCKER_HOST" in str(info.value)


@pytest.fixture(scope="module")
def offline_base(docker_client, base_image) -> Iterator[str]:
    """The base image with pip kept offline, as on these machines: no index, and builds of
    local projects with the setuptools already installed (no isolated build env)."""
    tag = "caliban-test-offline-pip:1"
    dockerfile = f"FROM {base_image}\nENV PIP_NO_INDEX=1 PIP_NO_BUILD_ISOLATION=0\n"
    docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True,
                               network_mode="none")
    yield tag
    docker_client.images.remove(tag, force=True)


@pytest.mark.docker
def test_what_requirements_and_setup_py_reference_is_installed(docker_client, offline_base,
                                                               tmp_path, cleanup):
    """`-r base.txt`, `-c constraints.txt` and `./localpkg` in requirements.txt, and a
    setup.py listing its package and reading its README: all installed before the code."""
    write_tree(tmp_path, {
        "requirements.txt": "-r base.txt\n-c pins/constraints.txt\n./localpkg\n",
        "base.txt": "numpy>=1\n",  # in the base image already: nothing to download
        "pins/constraints.txt": "numpy<3\n",
        "localpkg/setup.py": "from setuptools import setup\n"
                             "setup(name='caliban-localpkg', version='0.2', "
                             "py_modules=['localmod'])\n",
        "localpkg/localmod.py": "VALUE = 'local-ok'\n",
        "setup.py": "from setuptools import setup\n"
                    "setup(name='caliban-proj', version='0.1', packages=['mylib'],\n"
                    "      long_description=open('README.md').read(),\n"
                    "      install_requires=['numpy'])\n",
        "README.md": "# proj\n",
        "mylib/__init__.py": "VALUE = 'lib-ok'\n",
        "trainer/train.py": "import importlib.metadata as m, localmod, mylib\n"
                            "print(mylib.VALUE, localmod.VALUE, m.version('caliban-proj'), "
                            "mylib.__file__.startswith('/usr/app'))\n",
        "trainer/nonce.txt": uuid.uuid4().hex,
    })
    req = BuildRequest(str(tmp_path), classify_target("trainer/train.py", tmp_path),
                       base_image=offline_base, image_name="caliban-test-deps")
    result = ensure_image(req, client=docker_client)
    cleanup.append(result.tag)
    # Only trainer/ is the code: mylib and localmod come from the installed packages.
    status, out = _run(docker_client, result.tag, [])
    assert (status, out.strip()) == (0, "lib-ok local-ok 0.1 False")
