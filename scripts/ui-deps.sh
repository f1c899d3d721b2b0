#!/usr/bin/env bash
# What the browser tests (tests/ui) need, idempotently: Debian's chromium and the `ui`
# extra (JupyterLab, Notebook 7, Playwright) in .venv. Playwright drives /usr/bin/chromium
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
  .venv/bin/pip install -q -e ".[dev,ui]"
  touch "$stamp"
fi
