#!/usr/bin/env bash
# The test command: set up everything on a fresh Debian 12 machine (idempotently), then run
# the whole suite against the real Docker engine, registry and local Vertex emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
bash scripts/venv.sh
bash scripts/ui-deps.sh  # chromium + jupyterlab/playwright for tests/ui
export NO_GCE_CHECK=true NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
export CALIBAN_TEST_BASE_IMAGE="${CALIBAN_TEST_BASE_IMAGE:-caliban-base:bookworm-py3-nb}"
# Never touch the user's own history or emulator.
CALIBAN_HOME="$(mktemp -d /tmp/caliban-test-home.XXXXXX)"
export CALIBAN_HOME
trap '.venv/bin/caliban emulator stop >/dev/null 2>&1 || true' EXIT
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
