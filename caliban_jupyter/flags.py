"""The runtime flags of `caliban cloud` (and so of `%%caliban_cloud`, the API and the form):
Spot and flex-start, timeout, retries, service account, network, env, disks, web access,
TensorBoard, reservation and worker pools.

Values stay text here: :func:`caliban_jupyter.spec.runtime.resolve_runtime` validates them
for every front end alike (the API passes numbers as text too).
"""

from __future__ import annotations

import argparse


def add_runtime_arguments(p: argparse.ArgumentParser) -> None:
    """Add the runtime flags to ``p`` as their own groups."""
    s = p.add_argument_group("scheduling")
    s.add_argument("--spot", action="store_true",
                   help="run on Spot VMs: far cheaper, but may be preempted")
    s.add_argument("--flex_start", action="store_true",
                   help="queue until L4/A100/H100/H200/B200 capacity is free (Dynamic "
                        "Workload Scheduler), then run uninterrupted")
    s.add_argument("--max_wait", metavar="DURATION",
                   help="with --flex_start: how long to wait for capacity, e.g. 2h "
                        "(0s: forever)")
    s.add_argument("--timeout", metavar="DURATION",
                   help="stop the job after this long, e.g. 90m, 2h, 3600s, 1d")
    s.add_argument("--restart_on_worker_restart", action="store_true",
                   help="restart the whole job when a worker restarts (e.g. preempted)")
    s.add_argument("--disable_retries", action="store_true",
                   help="fail instead of retrying on internal errors")
    r = p.add_argument_group("runtime")
    r.add_argument("--env", dest="job_env", action="append", default=[],
                   metavar="KEY=VALUE",
                   help="environment variable of every replica (repeatable; never a label)")
    r.add_argument("--service_account", metavar="EMAIL",
                   help="service account the job runs as")
    r.add_argument("--network", metavar="projects/N/global/networks/NAME",
                   help="VPC network to peer the job with")
    r.add_argument("--tensorboard", metavar="projects/P/locations/L/tensorboards/ID",
                   help="TensorBoard instance for the job's logs (needs --service_account)")
    r.add_argument("--enable_web_access", action="store_true",
                   help="interactive shell access to the replicas (URIs in caliban status)")
    r.add_argument("--boot_disk_size", metavar="GB", help="boot disk size (100 to 64000)")
    r.add_argument("--boot_disk_type", metavar="TYPE",
                   help="pd-ssd (default), pd-standard or hyperdisk-balanced")
    r.add_argument("--reservation", metavar="NAME",
                   help="consume this Compute Engine reservation")
    d = p.add_argument_group("distributed")
    d.add_argument("--workers", metavar="N",
                   help="N worker replicas besides the chief (workerpool1), same image and "
                        "args; CLUSTER_SPEC and TF_CONFIG tell each its role")
    d.add_argument("--worker_machine_type", metavar="MACHINE",
                   help="machine type of the workers (default: the chief's)")
    d.add_argument("--worker_gpu_spec", metavar="NUMxGPU_TYPE",
                   help="GPUs per worker (default: the chief's; 'none' for CPU workers)")
