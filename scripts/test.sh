#!/usr/bin/env bash
# The test command: set up everything on a fresh Debian 12 machine (idempotently), then run
# the whole suite against the real Docker engine, registry and local Vertex emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
bash scripts/venv.sh
bash scripts/ui-deps.sh  # chromium + jupyterlab/playwright for tests/ui
# tests/conftest.py gives the run its own CALIBAN_HOME (never the user's history or
# emulator; its emulator is stopped at the end), NO_GCE_CHECK, NO_PROXY for loopback, and
# CALIBAN_TEST_BASE_IMAGE's default, the image scripts/services.sh builds.
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
