"""`caliban status`: the jobs of an experiment group (or of the latest groups), refreshed
from the job service with one list call per page."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..events import Event
    from ..records import JobRecord
    from ..settings import Settings

HELP = "Show the jobs of an experiment group (default: the latest groups) and their states."


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that say which job service to ask (shared by status/stop/resubmit/logs)."""
    g = parser.add_argument_group("job service (default: where the group was submitted)")
    g.add_argument("--backend", choices=("vertex", "local"),
                   help="vertex (Google's Vertex AI) or local (the local emulator)")
    g.add_argument("--project_id", help="Google Cloud project id")
    g.add_argument("--region", help="Vertex AI region, e.g. us-central1")
    g.add_argument("--cloud_key", help="service-account key JSON file for Vertex AI")
    g.add_argument("--endpoint", help="job service URL, e.g. http://127.0.0.1:8470")


def settings_from_args(args: argparse.Namespace) -> Settings:
    from ..settings import resolve_settings

    flags = {k: getattr(args, k, None)
             for k in ("backend", "project_id", "region", "cloud_key", "endpoint")}
    return resolve_settings(flags, gpu=False)


def print_event(event: Event) -> None:
    """Progress on stderr, so stdout stays machine-readable with --format json."""
    print(event.message, file=sys.stderr)


def _short_time(stamp: str | None) -> str:
    return (stamp or "-").replace("T", " ")[:19]


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def render_table(records: Sequence[JobRecord]) -> str:
    """Text table: one block per group, one row per job."""
    lines: list[str] = []
    group = None
    # Display names differ only in their suffix: never cut them.
    name_w = max([len(r.display_name) for r in records] + [4])
    for r in records:
        if r.xgroup != group:
            group = r.xgroup
            if lines:
                lines.append("")
            lines.append(f"xgroup {group} ({r.backend}, project {r.project}, {r.region}):")
            lines.append(f"  {'NAME':<{name_w}} {'STATE':<14} {'STRATEGY':<10} "
                         f"{'CREATED':<19} {'ARGS':<36} URL")
        lines.append(f"  {r.display_name:<{name_w}} {r.state:<14} {r.strategy:<10} "
                     f"{_short_time(r.created):<19} {_short(' '.join(r.args) or '-', 36):<36} "
                     f"{r.url or '-'}")
        if r.error:
            # Why it failed (or was not submitted): under its row, so columns stay aligned.
            lines.append(f"  {'':<{name_w}} error: {_short(' '.join(r.error.split()), 300)}")
        for replica, uri in sorted(r.web_access_uris.items()):
            lines.append(f"    web access {replica}: {uri}")
    return "\n".join(lines)


def render_json(records: Sequence[JobRecord]) -> str:
    data: list[dict[str, Any]] = [r.to_json() for r in records]
    return json.dumps(data, indent=2)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--xgroup", help="the experiment group (default: the latest groups "
                        "in the local history)")
    parser.add_argument("--max_jobs", type=int, metavar="N",
                        help="show at most N jobs per group")
    parser.add_argument("--max_groups", type=int, default=5, metavar="N",
                        help="without --xgroup, how many recent groups (default 5)")
    parser.add_argument("--all_attempts", action="store_true",
                        help="list every attempt of resubmitted jobs (default: each job "
                        "once, by its latest attempt)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text table (default) or JSON records")
    add_backend_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ..service import track as tracking

    records = tracking.status(args.xgroup, settings=settings_from_args(args),
                              max_jobs=args.max_jobs, max_groups=args.max_groups,
                              all_attempts=args.all_attempts, progress=print_event)
    if args.format == "json":
        print(render_json(records))
    elif records:
        print(render_table(records))
    else:
        print("no experiment groups recorded yet; submit with `caliban cloud`, or pass "
              "--xgroup to look a group up by its label", file=sys.stderr)
    return 0
