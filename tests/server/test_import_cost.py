"""Loading the server extension imports no Docker and no Google SDK.

(The bare ``google.cloud`` namespace package is set up by a ``.pth`` file at interpreter
start; the SDK's modules are ``google.cloud.aiplatform...``, ``google.auth``, ...)
"""

from __future__ import annotations

import json
import subprocess
import sys

CHECK = r"""
import json, sys
from jupyter_server.serverapp import ServerApp
app = ServerApp(jpserver_extensions={"caliban_jupyter.server": True},
                reraise_server_extension_failures=True, open_browser=False)
app.initialize(argv=[], find_extensions=False, new_httpserver=False)
apps = app.extension_manager.extension_apps
heavy = sorted(m for m in sys.modules
               if m.split(".")[0] in ("docker", "grpc")
               or m.startswith(("google.cloud.", "google.auth", "google.api_core")))
print(json.dumps({"loaded": "caliban_jupyter.server" in apps, "heavy": heavy}))
"""


def test_loading_the_extension_imports_no_docker_or_google_sdk(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CALIBAN_HOME": str(tmp_path),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "PYTHONPATH": ":".join(sys.path)}
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"loaded": True, "heavy": []}
