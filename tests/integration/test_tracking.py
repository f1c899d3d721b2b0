"""`caliban status / stop / resubmit / logs` end to end: the real CLI, the real SDK, the
emulator. Most tests keep jobs QUEUED (``--no-run``); one runs real containers in Docker."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import wait_for

from caliban_jupyter.backends.local import LocalBackend
from caliban_jupyter.cli import main
from caliban_jupyter.emulator import control
from caliban_jupyter.history import History
from caliban_jupyter.service import track as tracking
from caliban_jupyter.service.submit import SweepSubmissionError, submit_sweep
from caliban_jupyter.spec.jobs import JobSpec, MachineSpec

os.environ.setdefault("NO_GCE_CHECK", "true")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


def start(home: Path, *options: str) -> str:
    return str(control.start(home, ["--port", "0", *options])["endpoint"])


@pytest.fixture
def queued_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An emulator that never runs jobs; CALIBAN_HOME and CALIBAN_ENDPOINT point at it."""
    home = tmp_path / "emu"
    endpoint = start(home, "--no-run")
    monkeypatch.setenv("CALIBAN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CALIBAN_ENDPOINT", endpoint)
    yield endpoint
    control.stop(home)


def specs(xgroup: str, argvs: list[list[str]], image: str = "127.0.0.1:5000/x:1",
          command_image: bool = False) -> list[JobSpec]:
    return [JobSpec(display_name=f"{xgroup}_{i}", index=i, region="us-central1",
                    image_uri=image, args=tuple(argv),
                    labels={"xgroup": xgroup, "job_name": xgroup},
                    machine=MachineSpec("n1-standard-4"))
            for i, argv in enumerate(argvs, start=1)]


def local_backend(endpoint: str) -> LocalBackend:
    return LocalBackend(project="local", region="us-central1", endpoint=endpoint)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def states(capsys: pytest.CaptureFixture[str], xgroup: str, *flags: str) -> list[str]:
    code, out, _ = cli(capsys, "status", "--xgroup", xgroup, "--format", "json", *flags)
    assert code == 0
    return [r["state"] for r in json.loads(out)]


def test_status_stop_resubmit_logs(queued_emulator: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    backend = local_backend(queued_emulator)
    with History() as history:
        submit_sweep(specs("flow", [["--a", "1"], ["--a", "2"], ["--a", "3"]]), backend,
                     history, xgroup="flow")

    assert states(capsys, "flow") == ["QUEUED"] * 3
    code, out, _ = cli(capsys, "status")  # latest groups from the history
    assert code == 0
    assert "xgroup flow (local, project local, us-central1)" in out
    assert "flow_2" in out and "--a 2" in out and f"{queued_emulator}/ui/jobs/" in out
    code, out, _ = cli(capsys, "status", "--xgroup", "flow", "--max_jobs", "1",
                       "--format", "json")
    assert len(json.loads(out)) == 1

    # Stopping several jobs asks first; with no terminal to ask, it refuses.
    code, _, err = cli(capsys, "stop", "--xgroup", "flow")
    assert code == 2 and "pass --yes" in err
    code, out, _ = cli(capsys, "stop", "--xgroup", "flow", "--dry_run")
    assert code == 0 and "would stop 3 job(s)" in out
    assert states(capsys, "flow") == ["QUEUED"] * 3
    code, out, _ = cli(capsys, "stop", "--yes")  # default: the latest group
    assert code == 0 and "stopping 3 job(s)" in out
    for _ in range(50):  # the emulator may pass through CANCELLING
        if states(capsys, "flow") == ["CANCELLED"] * 3:
            break
    assert states(capsys, "flow") == ["CANCELLED"] * 3
    code, _, err = cli(capsys, "stop", "--xgroup", "flow", "--yes")
    assert code == 0 and "no running jobs" in err

    code, out, _ = cli(capsys, "resubmit", "--xgroup", "flow", "--dry_run")
    assert code == 0 and "would submit 3 job(s)" in out and "flow_1-retry1" in out
    assert len(states(capsys, "flow")) == 3
    code, out, err = cli(capsys, "resubmit", "--xgroup", "flow")
    assert code == 0 and "submitted 3 job(s)" in out, err
    # Each job once, by its latest attempt; --all_attempts lists the cancelled ones too.
    assert states(capsys, "flow") == ["QUEUED"] * 3
    assert states(capsys, "flow", "--all_attempts") == ["CANCELLED", "QUEUED"] * 3
    code, _, err = cli(capsys, "resubmit", "--xgroup", "flow")
    assert code == 0 and "nothing to resubmit" in err

    with History() as history:
        retried = [r for r in history.jobs("flow") if r.display_name.endswith("-retry1")]
        originals = [r for r in history.jobs("flow") if not r.display_name.endswith("-retry1")]
    assert len({r.submission_id for r in retried + originals}) == 6
    assert [r.args for r in retried] == [r.args for r in originals]

    code, out, _ = cli(capsys, "logs", "flow_1-retry1", "--tail", "5")
    assert code == 0  # a queued job has an empty log
    code, _, err = cli(capsys, "logs", "nope")
    assert code == 1 and "no submitted job named 'nope'" in err


def test_status_rebuilds_a_group_on_another_machine(queued_emulator: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    with History(tmp_path / "elsewhere.sqlite") as other:
        submit_sweep(specs("away", [["--b", "1"], ["--b", "2"]]), local_backend(
            queued_emulator), other, xgroup="away")
    # This CALIBAN_HOME has never heard of the group: the labels are enough.
    code, out, err = cli(capsys, "status", "--xgroup", "away", "--backend", "local",
                         "--format", "json")
    assert code == 0, err
    records = json.loads(out)
    assert [(r["display_name"], r["index"], r["args"]) for r in records] == [
        ("away_1", 1, ["--b", "1"]), ("away_2", 2, ["--b", "2"])]
    code, _, err = cli(capsys, "status", "--xgroup", "never_submitted", "--backend", "local")
    assert code == 1 and "no jobs labeled xgroup=never_submitted" in err


def test_failed_submission_is_completed_by_resubmit(queued_emulator: str) -> None:
    backend = local_backend(queued_emulator)
    good = specs("partial", [["--c", "1"]])
    bad = specs("partial", [["--c", "2"]])[0]
    from dataclasses import replace

    bad = replace(bad, index=2, display_name="partial_2",
                  labels={**bad.labels, "Not_A_Label": "x"})
    with History() as history:
        with pytest.raises(SweepSubmissionError) as info:
            submit_sweep([*good, bad], backend, history, xgroup="partial")
        assert "caliban resubmit --xgroup partial" in str(info.value)
        [failed] = [r for r in history.jobs("partial") if not r.is_submitted]
        assert failed.display_name == "partial_2" and "Not_A_Label" in str(failed.error)
        # The emulator rejects the label key (400): resubmitting as-is fails again,
        # and the group keeps exactly one submitted job.
        with pytest.raises(SweepSubmissionError):
            tracking.resubmit("partial", backend=backend, history=history)
        assert len(list(backend.list_group("partial"))) == 1


@pytest.mark.docker
def test_real_jobs_logs_and_resubmit_of_failures(tmp_path: Path, base_image: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "emu"
    endpoint = start(home)
    monkeypatch.setenv("CALIBAN_HOME", str(tmp_path / "home"))
    try:
        backend = local_backend(endpoint)
        argvs = [["python3", "-c", "print('hello from job 1')"],
                 ["python3", "-c", "import sys; print('job 2 fails'); sys.exit(3)"]]
        with History() as history:
            submit_sweep(specs("real", argvs, image=base_image), backend, history,
                         xgroup="real")
            records = wait_for(
                lambda: (rs := tracking.status("real", backend=backend, history=history))
                and all(r.is_terminal for r in rs) and rs, what="both jobs to end")
            assert [r.state for r in records] == ["SUCCEEDED", "FAILED"]
            assert records[1].error
            assert "hello from job 1" in tracking.logs("real_1", backend=backend,
                                                       history=history)
            assert tracking.logs("real_2", backend=backend, history=history,
                                 tail=1).strip() == "job 2 fails"
            [again] = tracking.resubmit("real", backend=backend, history=history)
            assert again.display_name == "real_2-retry1" and again.args == tuple(argvs[1])
            assert again.image_uri == base_image
    finally:
        control.stop(home)
        # The resubmitted job may still be running: leave no container behind.
        from support.emulator import remove_containers

        remove_containers(control.default_state_dir(home))


def test_stop_one_job_by_name(queued_emulator: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    with History() as history:
        submit_sweep(specs("one", [["--a", "1"], ["--a", "2"], ["--a", "3"]]),
                     local_backend(queued_emulator), history, xgroup="one")
    code, out, _ = cli(capsys, "stop", "one_2", "--dry_run")
    assert code == 0 and "would stop 1 job(s)" in out and "one_2" in out
    assert states(capsys, "one") == ["QUEUED"] * 3
    code, out, err = cli(capsys, "stop", "one_2")  # one job: no question, no --yes
    assert code == 0 and "stopping 1 job(s): one_2" in out, err
    wait_for(lambda: states(capsys, "one") == ["QUEUED", "CANCELLED", "QUEUED"],
             what="job 2 CANCELLED, the others still QUEUED")
    code, _, err = cli(capsys, "stop", "one_2")
    assert code == 0 and "one_2 is already CANCELLED: nothing to stop" in err
    code, _, err = cli(capsys, "stop", "one_2", "--xgroup", "flow", "--backend", "local")
    assert code == 1 and "no jobs labeled xgroup=flow" in err
    code, _, err = cli(capsys, "stop", "nope")
    assert code == 1 and "no submitted job named 'nope'" in err
    assert states(capsys, "one") == ["QUEUED", "CANCELLED", "QUEUED"]


@pytest.fixture
def running_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An emulator running jobs in Docker; CALIBAN_HOME and CALIBAN_ENDPOINT point at it."""
    home = tmp_path / "emu"
    endpoint = start(home)
    monkeypatch.setenv("CALIBAN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CALIBAN_ENDPOINT", endpoint)
    try:
        yield endpoint
    finally:
        control.stop(home)
        from support.emulator import remove_containers

        remove_containers(control.default_state_dir(home))


@pytest.mark.docker
def test_logs_follow_until_the_job_ends(running_emulator: str, base_image: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    program = ("import time\nfor i in range(3):\n    print('step', i, flush=True)\n"
               "    time.sleep(1)\nprint('done')")
    with History() as history:
        submit_sweep(specs("follow", [["python3", "-c", program]], image=base_image),
                     local_backend(running_emulator), history, xgroup="follow")
    # Started while the job is queued or running: it returns by itself once it ended.
    code, out, err = cli(capsys, "logs", "follow_1", "--follow")
    assert code == 0, err
    assert out == "step 0\nstep 1\nstep 2\ndone\n"
    assert states(capsys, "follow") == ["SUCCEEDED"]
    code, out, _ = cli(capsys, "logs", "follow_1", "--follow", "--tail", "1")
    assert code == 0 and out == "done\n"


@pytest.mark.docker
def test_ctrl_c_stops_following_and_stop_job_cancels_a_running_job(
        running_emulator: str, base_image: str, capsys: pytest.CaptureFixture[str]) -> None:
    import queue
    import signal
    import subprocess
    import sys
    import threading

    program = "import time\nprint('tick', flush=True)\ntime.sleep(600)"
    with History() as history:
        submit_sweep(specs("long", [["python3", "-c", program]] * 2, image=base_image),
                     local_backend(running_emulator), history, xgroup="long")
    child = subprocess.Popen([sys.executable, "-m", "caliban_jupyter.cli", "logs",
                              "long_1", "--follow"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in child.stdout],  # type: ignore
                     daemon=True).start()
    try:
        assert lines.get(timeout=300) == "tick\n"  # following a running job
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 0, err
    assert "stopped following long_1; the job keeps running" in err
    assert "Traceback" not in err
    waiting = {"QUEUED", "PENDING", "RUNNING"}
    first, second = states(capsys, "long")
    assert first == "RUNNING" and second in waiting  # the job keeps running

    code, out, err = cli(capsys, "stop", "long_1")
    assert code == 0 and "stopping 1 job(s): long_1" in out, err
    seen = wait_for(lambda: (s := states(capsys, "long"))[0] == "CANCELLED" and s,
                    what="long_1 CANCELLED")
    assert seen[1] in waiting  # the other job is left alone
    code, out, err = cli(capsys, "stop", "--xgroup", "long", "--yes")
    assert code == 0 and "stopping 1 job(s): long_2" in out, err
