"""What a dry run shows: the build plan, each job as it would be sent, and the notes.

The CLI prints it (:func:`caliban_jupyter.cli.render.render_dry_run`), the notebook shows it
as a :class:`DryRun`, the form and the Jupyter server return it. Nothing here builds,
uploads or submits; nothing imports Docker.
"""

from __future__ import annotations

import html
import io
import shlex
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..spec.cost import Estimate
    from .plan import Plan

__all__ = ["DryRun", "build_lines", "cost_lines", "dry_run_bodies", "dry_run_json",
           "dry_run_notes", "dry_run_plan", "dry_run_text", "plan_cost", "planned_image"]


def planned_image(plan: Plan) -> str:
    """The image the jobs will run: ``--image_tag``, or the repository a build would push to
    with ``<content-hash>`` standing for the tag.

    The tag is the hash of the build context; computing it needs the docker SDK's ignore
    rules, which a dry run must not import (it stays a fast, Docker-free path).
    """
    if plan.image:
        return plan.image
    from .build import image_repository

    return f"{image_repository(plan)}:<content-hash>"


def dry_run_plan(plan: Plan) -> tuple[dict[str, Any], list[Any]]:
    """The build plan (JSON form) and the jobs' specs as they would be sent."""
    mode = plan.build.mode if plan.build is not None else "docker"
    if mode in ("package", "cloudbuild"):
        from .build import build_request, dry_run

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


def build_lines(info: dict[str, Any]) -> list[str]:
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
        kind = ("Vertex prebuilt" if executor.get("runs_as", "pythonPackageSpec") ==
                "pythonPackageSpec" else f"available until {executor['end_of_availability']}")
        name = f" ({executor['name']}, {kind})" if executor.get("name") else ""
        lines.append(f"  runs on:      {executor['uri']}{name}, as {info['runs_as']}")
    if info.get("requirements"):
        lines.append(f"  requirements: installed {info['requirements']['installed']}: "
                     f"{info['requirements']['what']}")
    lines += [f"  warning: {w}" for w in info.get("warnings", [])]
    return lines


def plan_cost(plan: Plan, bodies: list[dict[str, Any]] | None = None) -> Estimate:
    """What the planned jobs would cost on Vertex AI (list prices, docs/cost-json.md):
    the strategy chosen (``--spot``, ``--flex_start``), or on demand and Spot side by side;
    with ``--timeout``, the most the sweep can cost."""
    from ..spec.cost import sweep_estimate

    scheduling = plan.runtime.scheduling
    if bodies is None:
        bodies = [spec.to_custom_job() for spec in plan.specs]
    return sweep_estimate(bodies, plan.settings.region, chosen=scheduling.strategy,
                          timeout=scheduling.timeout)


def cost_lines(plan: Plan, estimate: Estimate) -> list[str]:
    """The estimate as the dry run's text shows it."""
    lines = estimate.lines()
    if plan.backend != "vertex":
        lines.insert(1, f"  (priced as if on Vertex AI; the {plan.backend} backend itself "
                        "bills nothing)")
    return lines


def dry_run_json(plan: Plan) -> dict[str, Any]:
    """``--format json``: what the preflight found, the build plan, the request body of
    each job, and what the jobs would cost (``cost``, docs/cost-json.md)."""
    info, specs = dry_run_plan(plan)
    bodies = [s.to_custom_job() for s in specs]
    out = {"preflight": plan.preflight.to_json(), "build": info, "jobs": bodies,
           "cost": plan_cost(plan, bodies).to_json()}
    if plan.tuning is not None:
        from .tuning import tuning_job_body

        # The one request of a search (its trials run the job above, with --name=value).
        out["tuning_job"] = tuning_job_body(plan.tuning, bodies[0])
    return out


def dry_run_notes(plan: Plan) -> list[str]:
    """What the program will not run, labels changed...: printed beside the JSON."""
    return [*plan.request.program_notes, *plan.notes]


def dry_run_text(plan: Plan) -> str:
    """The jobs of ``plan`` as text, with its notes, build, warnings (what ``caliban cloud
    --dry_run`` prints and a :class:`DryRun` shows)."""
    from ..spec.runtime import describe_runtime

    out = io.StringIO()
    info, specs = dry_run_plan(plan)
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
    # The preflight's engine answer is the build line's reason (``auto``).
    for line in build_lines(info):
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
    print("", file=out)
    for line in cost_lines(plan, plan_cost(plan, [spec.to_custom_job() for spec in specs])):
        print(line, file=out)
    n = len(plan.specs)
    if plan.tuning is not None:
        t = plan.tuning
        print(f"\nSearch: {t.goal} {t.metric!r} over {t.trials} trials, {t.parallel} at a "
              f"time (algorithm {t.algorithm}"
              + (f", early stopping {t.early_stopping}" if t.early_stopping else "") + ")",
              file=out)
        for p in t.parameters:
            what = (f"{p.low}..{p.high} ({p.scale})" if p.kind in ("double", "integer")
                    else f"{list(p.values)}")
            print(f"  --{p.name}: {p.kind} {what}", file=out)
        print("\n1 tuning job would be submitted (each trial runs the job above, with its "
              "parameters as --name=value; the cost above is per trial).", file=out)
    else:
        print(f"\n{n} job{'s' if n != 1 else ''} would be submitted.", file=out)
    if request.show_program:
        _show_program(plan, out)
    return out.getvalue()


def _show_program(plan: Plan, out) -> None:
    """The program every job runs (each job adds its own args): generated, or the target."""
    from ..spec.target import PROGRAM_FILE

    program = plan.readable_program
    if program is not None:
        print(f"\nProgram ({PROGRAM_FILE}, run as `python3 {PROGRAM_FILE} ARGS`):", file=out)
        print(program.rstrip("\n"), file=out)
    elif plan.target is not None:
        print(f"\nProgram: `{shlex.join(plan.target.command())} ARGS`, the {plan.target.kind} "
              f"{plan.target.path} as it is in the image", file=out)


class DryRun:
    """What a dry run would submit: displays the planned jobs; builds and submits nothing."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    @property
    def specs(self):
        return self.plan.specs

    @property
    def jobs(self):
        """The planned :class:`~caliban_jupyter.spec.jobs.JobSpec` of each job."""
        return list(self.plan.specs)

    def __len__(self) -> int:
        return len(self.plan.specs)

    def bodies(self) -> list[dict[str, Any]]:
        """The CustomJob request bodies that would be sent."""
        return dry_run_bodies(self.plan)

    def tuning_body(self) -> dict[str, Any] | None:
        """A search's HyperparameterTuningJob request body (None for a sweep)."""
        return dry_run_json(self.plan).get("tuning_job")

    def cost(self) -> dict[str, Any]:
        """What the jobs would cost on Vertex AI, from list prices (docs/cost-json.md)."""
        return plan_cost(self.plan).to_json()

    def build(self) -> dict[str, Any]:
        """How the jobs would become runnable (``--build``): the image to build, or the
        packages to upload and where, the image they run on, what is installed when each
        job starts."""
        return dry_run_plan(self.plan)[0]

    def __repr__(self) -> str:
        return dry_run_text(self.plan).rstrip("\n")

    def _repr_html_(self) -> str:
        return f"<pre class='caliban-dry-run'>{html.escape(repr(self))}</pre>"
