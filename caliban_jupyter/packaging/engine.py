"""Whether a Docker engine answers, and where (the preflight asks before choosing a build).

No docker SDK needed: it asks the engine's ``/_ping`` over its socket, so a dry run stays
fast and works where Docker is not installed at all.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
PROBE_TIMEOUT = 2.0


def probe_engine(env: Mapping[str, str] | None = None,
                 timeout: float = PROBE_TIMEOUT) -> tuple[bool, str]:
    """Whether a Docker engine answers ``/_ping`` where ``DOCKER_HOST`` says; and where."""
    env = os.environ if env is None else env
    host = env.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    address: str | tuple[str, int]
    if host.startswith("unix://"):
        family, address = socket.AF_UNIX, host[len("unix://"):]
    elif host.startswith("tcp://") and not env.get("DOCKER_TLS_VERIFY"):
        hostport = host[len("tcp://"):].split("/", 1)[0]
        name, _, port = hostport.rpartition(":")
        family, address = socket.AF_INET, (name.strip("[]") or "127.0.0.1", int(port or 2375))
    else:
        return _probe_with_sdk(host), host
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            head = sock.recv(64)
    except PermissionError:
        return False, (f"{host} (permission denied: add this user to the docker group, or "
                       "point DOCKER_HOST at an engine it may use)")
    except (OSError, ValueError):
        return False, host
    return head.startswith(b"HTTP/1.") and b" 200" in head.split(b"\r\n", 1)[0], host


def _probe_with_sdk(host: str) -> bool:
    """ssh://, TLS and other transports: let the docker SDK try."""
    import docker
    import requests

    try:
        docker.from_env(timeout=int(PROBE_TIMEOUT) + 1).ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return False
    return True
