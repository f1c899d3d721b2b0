#!/usr/bin/env bash
# What the browser tests (tests/ui) need, idempotently: Debian's chromium, the `ui`
# extra (JupyterLab, Notebook 7, Playwright) in .venv, and the lab extension linked from
# the sources (rebuilt when they changed). Playwright drives /usr/bin/chromium
# through executable_path; `playwright install` (a browser download) is never run.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[ui-deps] %s\n' "$*" >&2; }

if [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "installing chromium (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

stamp=.venv/.caliban-ui-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  log "installing the ui extra (jupyterlab, notebook, playwright) into .venv"
  # `jupyter labextension develop` links the venv's copy of the extension to the source build;
  # pip must not write (install.json) or delete through that link when it (re)installs.
  link=.venv/share/jupyter/labextensions/caliban-jupyter
  if [ -L "$link" ]; then rm "$link"; fi
  rm -f caliban_jupyter/labextension/install.json
  .venv/bin/pip install -q -e ".[dev,ui]"
  touch "$stamp"
fi

# Editable: rebuild the lab extension when its sources changed since the last build, and
# link it into the environment, so JupyterLab serves the sources' build (idempotent).
export PATH="$PWD/.venv/bin:$PATH"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export YARN_CA_FILE_PATH="${YARN_CA_FILE_PATH:-/etc/ssl/certs/ca-certificates.crt}"
fi
built=caliban_jupyter/labextension/package.json
# (the server's JSON schemas too: the extension's types are generated from them)
if [ ! -f "$built" ] || [ -n "$(find labextension/src labextension/style labextension/schema \
    caliban_jupyter/server/*.schema.json labextension/package.json -newer "$built" \
    -print -quit)" ]; then
  log "building the JupyterLab extension (labextension/ changed)"
  (cd labextension && jlpm install >/dev/null && jlpm build >/dev/null)
fi
if [ ! -L .venv/share/jupyter/labextensions/caliban-jupyter ]; then
  log "linking the JupyterLab extension into .venv (jupyter labextension develop)"
  .venv/bin/jupyter labextension develop --overwrite . >/dev/null
fi
