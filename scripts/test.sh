#!/usr/bin/env bash
# The test command: set up everything on a fresh Debian 12 machine (idempotently), then run
# the whole suite against the real Docker engine, registry and local Vertex emulator.
#
#   bash scripts/test.sh                     # everything, in parallel (pytest-xdist)
#   bash scripts/test.sh --quick             # no Docker, kernel or browser: a minute or two
#   bash scripts/test.sh tests/unit -k flags # any pytest arguments after the options
#
# CALIBAN_TEST_WORKERS sets how many pytest-xdist workers run the tests (default 4: on 2
# cores most tests wait on Docker, a kernel or a browser, so more workers than cores pay);
# 0 runs them in this process, one after another.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
if [ "${1:-}" = "--quick" ]; then
  shift
  quick=(-m "not docker and not kernel and not ui")
fi
start=$SECONDS
bash scripts/services.sh
bash scripts/venv.sh
bash scripts/ui-deps.sh  # chromium + jupyterlab/playwright for tests/ui
printf '[test] set-up took %d s\n' $((SECONDS - start)) >&2
# tests/conftest.py gives each test process its own CALIBAN_HOME (never the user's history
# or emulator; its emulator is stopped at the end), NO_GCE_CHECK, NO_PROXY for loopback,
# CALIBAN_TEST_BASE_IMAGE's default (the image scripts/services.sh builds), and puts the
# tests of each tests/integration, tests/kernel and tests/ui module on one worker.
start=$SECONDS
status=0
# The lab extension's own checks (eslint/prettier/stylelint and its jest tests) run beside
# pytest, unless a subset of the Python tests was asked for.
lab_pid=""
if [ "$#" -eq 0 ]; then
  ( cd labextension && PATH="$PWD/../.venv/bin:$PATH" && jlpm lint:check \
      && jlpm test --silent ) > .lab-checks.log 2>&1 &
  lab_pid=$!
fi
.venv/bin/python -m pytest -q -p no:cacheprovider -n "${CALIBAN_TEST_WORKERS:-4}" \
  "${quick[@]}" "$@" || status=$?
if [ -n "$lab_pid" ]; then
  if wait "$lab_pid"; then
    printf '[test] lab extension: lint and jest passed\n' >&2
  else
    cat .lab-checks.log >&2
    printf '[test] lab extension: lint or jest FAILED (above)\n' >&2
    status=1
  fi
fi
printf '[test] the tests took %d s\n' $((SECONDS - start)) >&2
exit "$status"
