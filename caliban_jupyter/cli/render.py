"""Terminal rendering for `caliban cloud`: dry-run listings and progress bars (tqdm)."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from typing import Any

from .. import events as ev
from ..progress import LineProgress
from ..service.plan import Plan
from ..spec.runtime import describe_runtime


def planned_image(plan: Plan) -> str:
    """The image the jobs will run: ``--image_tag``, or the repository a build would push to
    with ``<content-hash>`` standing for the tag.

    The tag is the hash of the build context; computing it needs the docker SDK's ignore
    rules, which a dry run must not import (it stays a fast, Docker-free path).
    """
    if plan.image:
        return plan.image
    from ..service.plan import image_repository

    return f"{image_repository(plan)}:<content-hash>"


def dry_run_plan(plan: Plan) -> tuple[dict[str, Any], list[Any]]:
    """The build plan (JSON form) and the jobs' specs as they would be sent."""
    mode = plan.build.mode if plan.build is not None else "docker"
    if mode in ("package", "cloudbuild"):
        from ..service.build import dry_run
        from ..service.plan import build_request

        return dry_run(plan, build_request(plan))
    image = planned_image(plan)
    info = plan.build.to_json() if plan.build is not None else {"mode": mode}
    info["image"] = image
    return info, [spec.with_image(image) for spec in plan.specs]


def dry_run_bodies(plan: Plan) -> list[dict[str, Any]]:
    return [spec.to_custom_job() for spec in dry_run_plan(plan)[1]]


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def _build_lines(info: dict[str, Any]) -> list[str]:
    """The dry run's account of how the jobs become runnable."""
    mode = info["mode"]
    if mode == "image":
        return []
    lines = [f"Build: {mode}" + (f" ({info['reason']})" if info.get("reason") else "")]
    for up in info.get("uploads", []):
        files = f"{up['files']} file{'s' if up['files'] != 1 else ''}"
        lines.append(f"  upload:       {up['name']} ({files}, "
                     f"{_size(up['content_bytes'])}) -> {up['uri']}")
    if info.get("uploads"):
        lines.append("                each uploaded once: skipped when it is already there")
    if mode == "cloudbuild":
        lines.append(f"  image:        {info['image']} (built by {info['builder']} on Cloud "
                     "Build; skipped when the registry has it)")
    executor = info.get("executor")
    if executor:
        name = f" ({executor['name']}, Vertex prebuilt)" if executor.get("name") else ""
        lines.append(f"  runs on:      {executor['uri']}{name}, as {info['runs_as']}")
    if info.get("requirements"):
        lines.append(f"  requirements: installed {info['requirements']['installed']}: "
                     f"{info['requirements']['what']}")
    lines += [f"  warning: {w}" for w in info.get("warnings", [])]
    return lines


def render_dry_run(plan: Plan, out=None, notes_out=None) -> None:
    """The jobs of ``plan`` as text, or (``--format json``) their request bodies; notes
    (what the program will not run, labels changed) go with the text, or to ``notes_out``
    (default stderr) beside the JSON."""
    out = out or sys.stdout
    info, specs = dry_run_plan(plan)
    if plan.request.format == "json":
        for note in (*plan.request.program_notes, *plan.notes):
            print(f"note: {note}", file=notes_out or sys.stderr)
        json.dump({"build": info, "jobs": [s.to_custom_job() for s in specs]}, out, indent=2)
        out.write("\n")
        return
    s = plan.settings
    where = f"backend {s.backend}" + (f", project {s.project_id}" if s.project_id else "")
    print(f"Dry run: nothing is built or submitted ({where}, experiment group {plan.xgroup}).",
          file=out)
    request = plan.request
    if request.program_modules:
        print(f"Local modules shipped with the program: {', '.join(request.program_modules)}",
              file=out)
    for note in (*request.program_notes, *plan.notes):
        print(f"note: {note}", file=out)
    for line in _build_lines(info):
        print(line, file=out)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=out)
    for spec in specs:
        m = spec.machine
        print(f"\n{spec.display_name}", file=out)
        print(f"  machine:     {m.machine_type}", file=out)
        accel = m.accelerator_label + (f" (topology {m.tpu_topology})" if m.tpu_topology else "")
        print(f"  accelerator: {accel}", file=out)
        print(f"  region:      {spec.region}", file=out)
        print(f"  image:       {spec.image_uri}", file=out)
        print(f"  args:        {shlex.join(spec.args) if spec.args else '(none)'}", file=out)
        labels = ", ".join(f"{k}={v}" if v else k for k, v in spec.labels.items())
        print(f"  labels:      {labels}", file=out)
        for line in describe_runtime(spec.runtime, m):
            print(f"  {line}", file=out)
        if spec.output_uri:
            saved = f" (values: {', '.join(plan.outputs)})" if plan.outputs else ""
            print(f"  outputs:     {spec.output_uri}{saved}", file=out)
    n = len(plan.specs)
    print(f"\n{n} job{'s' if n != 1 else ''} would be submitted.", file=out)
    if request.show_program:
        _show_program(plan, out)


def _show_program(plan: Plan, out) -> None:
    """The program every job runs (each job adds its own args): generated, or the target."""
    from ..spec.target import PROGRAM_FILE

    if plan.program is not None:
        print(f"\nProgram ({PROGRAM_FILE}, run as `python3 {PROGRAM_FILE} ARGS`):", file=out)
        print(plan.program.rstrip("\n"), file=out)
    elif plan.target is not None:
        print(f"\nProgram: `{shlex.join(plan.target.command())} ARGS`, the {plan.target.kind} "
              f"{plan.target.path} as it is in the image", file=out)


class TqdmProgress:
    """Renders progress events as tqdm bars on stderr."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        # Rates are meaningless for build steps (cached steps take microseconds).
        self._fmt = "{desc}: {n_fmt}/{total_fmt} |{bar:20}| {postfix}"
        self._build: Any = None
        self._push: Any = None
        self._submit: Any = None

    def __call__(self, event: ev.Event) -> None:
        t = self._tqdm
        if isinstance(event, ev.BuildStep):
            if self._build is None:
                self._build = t(total=event.total, desc="build", unit="step", file=sys.stderr,
                                bar_format=self._fmt, mininterval=0.2)
            self._build.n = event.index
            self._build.set_postfix_str(("cached " if event.cached else "") +
                                        event.instruction[:40])
        elif isinstance(event, ev.PushProgress):
            if self._push is None:
                self._push = t(total=event.total or None, desc="push", unit="B",
                               unit_scale=True, file=sys.stderr)
            if event.total:
                self._push.total = event.total
            self._push.n = event.current
            self._push.refresh()
        elif isinstance(event, (ev.JobSubmitted, ev.JobFailedToSubmit)):
            if self._submit is None:
                self._close_build()
                self._submit = t(total=event.total, desc="submit", unit="job",
                                 file=sys.stderr, mininterval=0.2)
            self._submit.update(1)
            if isinstance(event, ev.JobFailedToSubmit):
                t.write(event.message, file=sys.stderr)
        elif isinstance(event, ev.ImageReady):
            self._close_build()
            t.write(event.message, file=sys.stderr)
        elif isinstance(event, (ev.Info, ev.Warning_)):
            t.write(event.message, file=sys.stderr)

    def _close_build(self) -> None:
        for bar in (self._build, self._push):
            if bar is not None:
                bar.refresh()
                bar.close()
        self._build = self._push = None

    def close(self) -> None:
        self._close_build()
        if self._submit is not None:
            self._submit.close()
            self._submit = None


def render_records(records, fmt: str, out=None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        json.dump([r.to_json() for r in records], out, indent=2)
        out.write("\n")
        return
    width = max([len(r.display_name) for r in records] + [4])
    for r in records:
        print(f"{r.display_name:<{width}}  {r.state:<13} {r.url}", file=out)


def render_run(plan: Plan, execute: Callable[..., Any]) -> int:
    from ..service.group_names import group_of

    if plan.request.dry_run:
        render_dry_run(plan)
        return 0
    progress = terminal_progress()
    try:
        records = execute(plan, progress)
    finally:
        progress.close()
    render_records(records, plan.request.format)
    n = len(records)
    xgroup = group_of(plan, records)
    print(f"{n} job{'s' if n != 1 else ''} submitted in experiment group {xgroup}. "
          f"Follow them with: caliban status --xgroup {xgroup}", file=sys.stderr)
    return 0


def terminal_progress(stream: Any = None) -> TqdmProgress | LineProgress:
    """Bars when ``stream`` (default stderr) is a terminal, plain lines otherwise."""
    stream = stream or sys.stderr
    return TqdmProgress() if stream.isatty() else LineProgress(stream)
