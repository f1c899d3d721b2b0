"""``caliban emulator``: the local Vertex AI emulator (jobs run on the local Docker engine).

Actions::

    caliban emulator [run]   serve in the foreground until Ctrl-C
    caliban emulator start   start in the background (recorded in $CALIBAN_HOME/emulator.json)
    caliban emulator status  is one running? where?
    caliban emulator stop    stop the background one (running jobs keep their containers)

Execution: by default each job runs as a container; ``--simulate S`` walks jobs through
their states without Docker (each "runs" S seconds); ``--no-run`` never starts jobs, they
stay QUEUED (benchmarks of large submissions). Fault injection for tests:
``--fault-rate``, ``--latency-ms``, ``--drop-after-commit-rate``, ``--preempt-rate``,
``--seed`` (or the ``CALIBAN_EMULATOR_FAULT_RATE`` ... environment variables).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HELP = ("Run the local Vertex AI emulator (jobs run in Docker): in the foreground, or "
        "start/status/stop it in the background.")
DEFAULT_PORT = 8470


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = __doc__.split("\n", 2)[2] if __doc__ else None
    parser.add_argument("action", nargs="?", default="run",
                        choices=("run", "start", "status", "stop"),
                        help="what to do (default: run in the foreground)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0: any free port)")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="jobs database and logs (default $CALIBAN_HOME/emulator)")
    parser.add_argument("--max-running", type=int, default=4,
                        help="jobs running at once; the rest wait QUEUED (default 4)")
    parser.add_argument("--network", choices=("none", "host"), default="none",
                        help="network of job containers (default none)")
    run = parser.add_mutually_exclusive_group()
    run.add_argument("--no-run", action="store_true",
                     help="never start jobs: they stay QUEUED (for benchmarks)")
    run.add_argument("--simulate", type=float, metavar="SECONDS", default=None,
                     help="run no containers: each job just takes SECONDS and succeeds")
    parser.add_argument("--stop-grace", type=int, default=5, metavar="SECONDS",
                        help="seconds between SIGTERM and SIGKILL on cancel (default 5)")
    parser.add_argument("--prebuilt-image", default=None, metavar="IMAGE",
                        help="local image that runs jobs asking for a Vertex AI prebuilt "
                             "image (default $CALIBAN_EMULATOR_PREBUILT_IMAGE, else the "
                             "base image setting $CALIBAN_BASE_IMAGE)")
    faults = parser.add_argument_group("fault injection (for tests)")
    faults.add_argument("--fault-rate", type=float, default=None, metavar="R",
                        help="fraction of API requests answered 429 or 503")
    faults.add_argument("--latency-ms", type=float, default=None, metavar="MS",
                        help="delay before answering each API request")
    faults.add_argument("--drop-after-commit-rate", type=float, default=None, metavar="R",
                        help="fraction of creates stored but never answered")
    faults.add_argument("--preempt-rate", type=float, default=None, metavar="R",
                        help="fraction of Spot jobs preempted once as they start running")
    faults.add_argument("--seed", type=int, default=None, help="seed of fault decisions")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument("--json", action="store_true", help="status/start: print JSON")
    # Internal: used by `start` / ensure_emulator for the background process.
    parser.add_argument("--record", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--port-fallback", action="store_true", help=argparse.SUPPRESS)
    # Internal: the file the background process's stderr goes to, named in job errors.
    parser.add_argument("--log-file", default=None, help=argparse.SUPPRESS)


def _background_options(args: argparse.Namespace) -> list[str]:
    """The flags of ``args`` to pass on to the background process."""
    opts = ["--port", str(args.port), "--max-running", str(args.max_running),
            "--network", args.network, "--stop-grace", str(args.stop_grace)]
    if args.state_dir is not None:
        opts += ["--state-dir", str(args.state_dir)]
    if args.prebuilt_image:
        opts += ["--prebuilt-image", args.prebuilt_image]
    if args.no_run:
        opts.append("--no-run")
    if args.simulate is not None:
        opts += ["--simulate", str(args.simulate)]
    for flag in ("fault_rate", "latency_ms", "drop_after_commit_rate", "seed",
                 "preempt_rate"):
        value = getattr(args, flag)
        if value is not None:
            opts += [f"--{flag.replace('_', '-')}", str(value)]
    if args.verbose:
        opts.append("--verbose")
    return opts


def _serve(args: argparse.Namespace) -> int:
    import logging

    from ..errors import UsageError
    from . import control
    from .app import Emulator, EmulatorConfig
    from .faults import FaultConfig
    from .runner import RunnerConfig

    if args.max_running < 1:
        raise UsageError("--max-running must be at least 1")
    env = FaultConfig.from_env()
    faults = FaultConfig(
        fault_rate=env.fault_rate if args.fault_rate is None else args.fault_rate,
        latency_ms=env.latency_ms if args.latency_ms is None else args.latency_ms,
        drop_after_commit_rate=(env.drop_after_commit_rate
                                if args.drop_after_commit_rate is None
                                else args.drop_after_commit_rate),
        seed=env.seed if args.seed is None else args.seed,
        preempt_rate=env.preempt_rate if args.preempt_rate is None else args.preempt_rate,
    )
    mode = "none" if args.no_run else "simulate" if args.simulate is not None else "docker"
    config = EmulatorConfig(
        state_dir=args.state_dir or control.default_state_dir(),
        port=args.port,
        port_fallback=args.port_fallback,
        runner=RunnerConfig(mode=mode, max_running=args.max_running, network=args.network,
                            simulate_seconds=args.simulate or 0.0,
                            stop_grace_seconds=args.stop_grace, log_file=args.log_file,
                            prebuilt_image=args.prebuilt_image),
        faults=faults,
        verbose=args.verbose,
    )
    # Errors in job threads (with their tracebacks) go to stderr: the background log.
    logging.basicConfig(stream=sys.stderr,
                        format="%(asctime)s [emulator] %(levelname)s %(message)s")
    emulator = Emulator(config).start()
    # The foreground emulator becomes this home's emulator unless a healthy one is.
    record_path = args.record
    if record_path is None and control.running() is None:
        record_path = control.caliban_home() / control.RECORD
    if record_path is not None:
        control.write_record(record_path, {
            "endpoint": emulator.endpoint, "port": emulator.port, "pid": os.getpid(),
            "stateDir": str(Path(config.state_dir).expanduser().resolve()), "mode": mode,
        })
    extra = f", faults {faults}" if faults.enabled else ""
    print(f"local Vertex emulator on {emulator.endpoint} (jobs: {mode}, state: "
          f"{config.state_dir}{extra}); Ctrl-C stops it", flush=True)
    try:
        emulator.serve_until_signal()
    finally:
        emulator.stop()
        if record_path is not None:
            control.remove_record(record_path, os.getpid())
    return 0


def run(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from . import control

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: give a port from 1 to 65535 (0 picks a free "
                         "one)")
    if args.action == "run":
        return _serve(args)
    if args.action == "start":
        record = control.running()
        if record is None:
            record = control.start(options=_background_options(args), port_fallback=False)
            what = "started"
        else:
            what = "already running"
        print(json.dumps(record) if args.json else
              f"local Vertex emulator {what} on {record['endpoint']} (pid {record['pid']}); "
              "stop it with `caliban emulator stop`")
        return 0
    if args.action == "status":
        record = control.running()
        if args.json:
            print(json.dumps(record))
        elif record is None:
            print("no local Vertex emulator is running (start one with "
                  "`caliban emulator start`)")
        else:
            health = control.health(str(record["endpoint"])) or {}
            print(f"local Vertex emulator on {record['endpoint']} (pid {record['pid']}, "
                  f"state {record.get('stateDir')}, {health.get('running', 0)} jobs "
                  "pending or running)")
        return 0 if record else 1
    record = control.stop()
    print("no local Vertex emulator was running" if record is None else
          f"stopped the local Vertex emulator on {record['endpoint']} (pid {record['pid']})",
          file=sys.stdout)
    return 0
