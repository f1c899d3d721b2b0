#!/usr/bin/env bash
# The README's main command: on a fresh machine, set everything up (idempotently), then run
# notebooks/quickstart.ipynb headlessly against the local Vertex emulator and write the
# executed notebook to out/quickstart.executed.ipynb. Exits non-zero if any cell fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
bash scripts/venv.sh
# The notebooks' kernel must be this venv's Python (it has caliban_jupyter installed).
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
export NO_GCE_CHECK=true NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
# Nothing can be pulled on these machines: build on the local base image.
export CALIBAN_BASE_IMAGE="${CALIBAN_BASE_IMAGE:-caliban-base:bookworm-py3-nb}"
mkdir -p out
.venv/bin/python - notebooks/quickstart.ipynb out/quickstart.executed.ipynb <<'PY'
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

src, dest = sys.argv[1], sys.argv[2]
nb = nbformat.read(src, as_version=4)
client = NotebookClient(nb, timeout=1200, kernel_name="python3",
                        resources={"metadata": {"path": "notebooks"}})
try:
    client.execute()
except CellExecutionError as e:
    nbformat.write(nb, dest)
    print(f"demo: a cell failed; the partly executed notebook is {dest}\n{e}", file=sys.stderr)
    sys.exit(1)
nbformat.write(nb, dest)
print(f"demo: executed {src} -> {dest}")
PY
