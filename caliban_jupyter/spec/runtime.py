"""A job's runtime settings beyond image and machine: scheduling, worker pools, env,
disks, reservation, service account, network, TensorBoard, web access. Pure.

:class:`RuntimeFlags` is what the user gave (text, unvalidated), whichever front end they
used; :func:`resolve_runtime` validates it, with the persistent settings of
``.calibanconfig.json`` under it, into a :class:`JobRuntime`, which writes its part of the
CustomJob body. Environment variables go into every pool's ``containerSpec.env`` and
never into labels.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import SpecError
from .flag_schema import flags
from .machine import MachineSpec
from .pools import (
    DiskSpec,
    WorkerPool,
    check_flex_start,
    check_reservation,
    reservation_affinity,
    resolve_disk,
    resolve_workers,
)
from .scheduling import Scheduling, resolve_scheduling

__all__ = ["PERSISTENT", "JobRuntime", "RuntimeFlags", "describe_runtime", "is_secret_name",
           "parse_env", "resolve_runtime", "shown_env"]

#: Runtime settings ``.calibanconfig.json`` may hold (besides ``env``, an object), resolved
#: with the settings: the flag schema's runtime flags of the "setting" layer.
PERSISTENT = tuple(f.name for f in flags("config_file") if f.runtime and f.layer == "setting"
                   and f.name != "env")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names that usually hold a secret: their values are masked wherever caliban shows them.
_SECRET = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|KEY|CREDENTIAL|AUTH|PRIVATE|"
                     r"CERT", re.I)
MASK = "****"
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_NETWORK = re.compile(r"^projects/(?P<project>[^/\s]+)/global/networks/"
                      r"(?P<name>[a-z]([-a-z0-9]{0,61}[a-z0-9])?)$")
_TENSORBOARD = re.compile(r"^projects/[^/\s]+/locations/[a-z]+-[a-z]+\d+/tensorboards/\d+$")


@dataclass(frozen=True)
class RuntimeFlags:
    """The runtime flags as given on the command line, magic line, API or form: the
    request mapping of the flag schema's runtime flags (``flag_schema.runtime_names()``,
    one field each; ``resolve_runtime`` maps them into the CustomJob body)."""

    spot: bool = False
    flex_start: bool = False
    max_wait: str | None = None
    timeout: str | None = None
    restart_on_worker_restart: bool = False
    disable_retries: bool = False
    service_account: str | None = None
    network: str | None = None
    job_env: tuple[str, ...] = ()
    boot_disk_size: str | None = None
    boot_disk_type: str | None = None
    enable_web_access: bool = False
    tensorboard: str | None = None
    reservation: str | None = None
    workers: str | None = None
    worker_machine_type: str | None = None
    worker_gpu_spec: str | None = None

    @classmethod
    def from_namespace(cls, args: Any) -> RuntimeFlags:
        """The flags of a parsed ``caliban cloud`` namespace (absent ones keep defaults)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = getattr(args, f.name, None)
            if value is None:
                continue
            if f.name == "job_env":
                value = tuple(value)
            elif f.type in ("str | None",) and not isinstance(value, str):
                value = str(value)
            values[f.name] = value
        return cls(**values)

    def setting_flags(self) -> dict[str, Any]:
        """The persistent settings among the flags, for settings resolution."""
        return {k: getattr(self, k, None) for k in PERSISTENT}


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name suggests its value is a secret."""
    return bool(_SECRET.search(name))


def parse_env(items: Iterable[str] | Mapping[str, Any] | None,
              flag: str = "--env") -> tuple[tuple[str, str], ...]:
    """``["A=1", "B=x=y"]`` (or a mapping) -> ``(("A", "1"), ("B", "x=y"))``; later wins.

    Raises
    ------
    SpecError
        An item without ``=``, or a name that is not a valid environment variable name.
    """
    if items is None:
        return ()
    pairs: list[tuple[str, Any]]
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        pairs = []
        for item in items:
            name, sep, value = str(item).partition("=")
            if not sep:
                raise SpecError(f"{flag} {item!r} is not KEY=VALUE; e.g. {flag} "
                                f"{(name.strip() or 'DATA_DIR').upper()}=VALUE")
            pairs.append((name, value))
    out: dict[str, str] = {}
    for name, value in pairs:
        name = str(name).strip()
        if not _ENV_NAME.match(name):
            fixed = re.sub(r"[^A-Za-z0-9_]", "_", name)
            fixed = fixed if fixed and not fixed[0].isdigit() else f"_{fixed}"
            raise SpecError(f"{flag}: {name!r} is not an environment variable name (letters, "
                            f"digits and '_', not starting with a digit); e.g. {fixed}")
        if value is None or isinstance(value, (dict, list)):
            raise SpecError(f"{flag}: the value of {name} must be text, not "
                            f"{type(value).__name__}")
        out.pop(name, None)  # a later value wins and takes the later position
        out[name] = value if isinstance(value, str) else str(value)
    return tuple(out.items())


def shown_env(env: Iterable[tuple[str, str]]) -> list[str]:
    """``NAME=value`` for people, with the values of secret-looking names masked."""
    return [f"{k}={MASK if is_secret_name(k) else v}" for k, v in env]


def check_service_account(text: str, flag: str = "--service_account") -> str:
    value = text.strip()
    if not _EMAIL.match(value):
        raise SpecError(f"{flag} {text!r} is not a service account email; e.g. {flag} "
                        "trainer@PROJECT.iam.gserviceaccount.com")
    return value


def check_network(text: str, flag: str = "--network") -> str:
    value = text.strip()
    m = _NETWORK.match(value)
    if m is None:
        name = value.rsplit("/", 1)[-1] or "NAME"
        raise SpecError(f"{flag} {text!r} is not a VPC network name; Vertex AI peers with "
                        f"projects/PROJECT_NUMBER/global/networks/NAME, e.g. {flag} "
                        f"projects/123456789012/global/networks/{name}")
    if not m["project"].isdigit():
        raise SpecError(f"{flag} {text!r}: Vertex AI wants the project number, not the "
                        f"project id {m['project']!r}; e.g. {flag} projects/123456789012/"
                        f"global/networks/{m['name']} (`gcloud projects describe "
                        f"{m['project']} --format='value(projectNumber)'` prints it)")
    return value


def check_tensorboard(text: str, flag: str = "--tensorboard") -> str:
    value = text.strip()
    if not _TENSORBOARD.match(value):
        raise SpecError(f"{flag} {text!r} is not a TensorBoard instance; e.g. {flag} "
                        "projects/PROJECT/locations/us-central1/tensorboards/1234567890")
    return value


@dataclass(frozen=True)
class JobRuntime:
    """Everything of a job's CustomJob body besides its name, labels, image, args and
    chief machine. The defaults change nothing in the request."""

    scheduling: Scheduling = field(default_factory=Scheduling)
    workers: WorkerPool | None = None
    env: tuple[tuple[str, str], ...] = ()
    disk: DiskSpec | None = None
    reservation: str | None = None
    service_account: str | None = None
    network: str | None = None
    tensorboard: str | None = None
    enable_web_access: bool = False

    def _pool(self, machine: MachineSpec, count: int,
              container: Mapping[str, Any]) -> dict[str, Any]:
        spec = machine.to_json()
        if self.reservation:
            spec["reservationAffinity"] = reservation_affinity(self.reservation)
        pool: dict[str, Any] = {"machineSpec": spec, "replicaCount": str(count),
                                "containerSpec": dict(container)}
        if self.env:
            pool["containerSpec"]["env"] = [{"name": k, "value": v} for k, v in self.env]
        if self.disk is not None:
            pool["diskSpec"] = self.disk.to_json()
        return pool

    def job_spec(self, chief: MachineSpec, container: Mapping[str, Any]) -> dict[str, Any]:
        """``jobSpec`` in Vertex's REST form: every pool runs ``container``."""
        pools = [self._pool(chief, 1, container)]
        if self.workers is not None:
            pools.append(self._pool(self.workers.machine, self.workers.replica_count,
                                    container))
        out: dict[str, Any] = {"workerPoolSpecs": pools}
        scheduling = self.scheduling.to_json()
        if scheduling:
            out["scheduling"] = scheduling
        for key, value in (("serviceAccount", self.service_account),
                           ("network", self.network), ("tensorboard", self.tensorboard)):
            if value:
                out[key] = value
        if self.enable_web_access:
            out["enableWebAccess"] = True
        return out

    @classmethod
    def from_job_spec(cls, job_spec: Mapping[str, Any] | None) -> JobRuntime | None:
        """Inverse of :meth:`job_spec` (for resubmitting a recorded job as it was sent);
        ``None`` when the job used none of these settings."""
        job_spec = job_spec or {}
        pools = list(job_spec.get("workerPoolSpecs") or [{}])
        first = pools[0] or {}
        container = first.get("containerSpec") or {}
        affinity = (first.get("machineSpec") or {}).get("reservationAffinity") or {}
        workers = None
        if len(pools) > 1 and pools[1]:
            workers = WorkerPool(machine=MachineSpec.from_json(pools[1].get("machineSpec") or {}),
                                 replica_count=int(pools[1].get("replicaCount") or 1))
        runtime = cls(
            scheduling=Scheduling.from_json(job_spec.get("scheduling")),
            workers=workers,
            env=tuple((e["name"], str(e.get("value", ""))) for e in container.get("env", [])),
            disk=DiskSpec.from_json(first.get("diskSpec")),
            reservation=(affinity.get("values") or [None])[0],
            service_account=job_spec.get("serviceAccount") or None,
            network=job_spec.get("network") or None,
            tensorboard=job_spec.get("tensorboard") or None,
            enable_web_access=bool(job_spec.get("enableWebAccess")),
        )
        return None if runtime == cls() else runtime


def resolve_runtime(flags: RuntimeFlags, *, chief: MachineSpec, region: str,
                    settings: Mapping[str, Any] | None = None,
                    sources: Mapping[str, str] | None = None,
                    force: bool = False) -> JobRuntime:
    """Validate the runtime flags over the persistent ``settings`` (flag wins; for
    ``env`` the flag's variables are added to the config's).

    ``sources`` says where each setting came from, so an error about a value from
    ``.calibanconfig.json`` says so.

    Raises
    ------
    SpecError
        For any invalid value or combination; the message names the flag (or setting)
        and the nearest valid choice.
    """
    settings = settings or {}
    sources = sources or {}

    def value(key: str) -> Any:
        given = getattr(flags, key)
        return given if given not in (None, "") else settings.get(key)

    def where(key: str) -> str:
        source = sources.get(key, "flag")
        if source == "flag" or getattr(flags, key) not in (None, ""):
            return f"--{key}"
        return f"{key} (from {source})"

    scheduling = resolve_scheduling(
        spot=flags.spot, flex_start=flags.flex_start, max_wait=flags.max_wait,
        timeout=value("timeout"), restart_on_worker_restart=flags.restart_on_worker_restart,
        disable_retries=flags.disable_retries, timeout_flag=where("timeout"))
    workers = resolve_workers(workers=flags.workers,
                              worker_machine_type=flags.worker_machine_type,
                              worker_gpu_spec=flags.worker_gpu_spec, chief=chief,
                              region=region, force=force)
    check_flex_start(scheduling, chief, workers, force=force)
    env = dict(parse_env(settings.get("env"), 'env (from .calibanconfig.json)'))
    env.update(parse_env(flags.job_env))
    account = value("service_account")
    if account:
        account = check_service_account(account, where("service_account"))
    board = value("tensorboard")
    if board:
        board = check_tensorboard(board, where("tensorboard"))
        if not account:
            raise SpecError(f"{where('tensorboard')} needs --service_account: Vertex AI "
                            "writes to TensorBoard as the job's service account, which "
                            "needs the Vertex AI User and Storage Admin roles; e.g. "
                            "--service_account trainer@PROJECT.iam.gserviceaccount.com")
    network = value("network")
    reservation = value("reservation")
    return JobRuntime(
        scheduling=scheduling,
        workers=workers,
        env=tuple(env.items()),
        disk=resolve_disk(value("boot_disk_size"), value("boot_disk_type"),
                          size_flag=where("boot_disk_size"),
                          type_flag=where("boot_disk_type")),
        reservation=check_reservation(reservation, where("reservation")) if reservation
        else None,
        service_account=account or None,
        network=check_network(network, where("network")) if network else None,
        tensorboard=board or None,
        enable_web_access=flags.enable_web_access,
    )


def _machine_text(machine: MachineSpec) -> str:
    if not machine.accelerator_type:
        return machine.machine_type
    return f"{machine.machine_type} + {machine.accelerator_label}"


def describe_runtime(runtime: JobRuntime | None, chief: MachineSpec) -> list[str]:
    """Lines for people (dry run, form preview): the strategy (always), pools, env names
    (values of secret-looking names masked), and whichever other settings are set."""
    if runtime is None:
        return ["strategy:    on-demand"]
    r = runtime
    lines = [f"strategy:    {r.scheduling.describe()}"]
    if r.workers is not None:
        lines.append(f"pools:       workerpool0 (chief) 1 x {_machine_text(chief)}; "
                     f"workerpool1 {r.workers.replica_count} x "
                     f"{_machine_text(r.workers.machine)}")
    if r.env:
        lines.append(f"env:         {', '.join(shown_env(r.env))}")
    if r.disk is not None:
        lines.append(f"boot disk:   {r.disk.boot_disk_size_gb or 'default'} GB "
                     f"{r.disk.boot_disk_type or ''}".rstrip())
    for label, value in (("reservation", r.reservation), ("service acct", r.service_account),
                         ("network", r.network), ("tensorboard", r.tensorboard)):
        if value:
            lines.append(f"{label + ':':<13}{value}")
    if r.enable_web_access:
        lines.append("web access:  enabled (URIs in `caliban status` once running)")
    return lines
