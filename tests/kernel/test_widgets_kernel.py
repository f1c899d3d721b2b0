"""The form and the live job table in a real kernel (nbclient), against the emulator.

Widget state is driven the way a front end would change it: code cells set ``.value``
and call ``.click()``; results are read back from the kernel. The table must reach
SUCCEEDED by itself (its background refresh), and a row's stop must cancel only that job.
"""

from __future__ import annotations

import json
import re
import time
from contextlib import contextmanager

import pytest
from nbformat.v4 import new_code_cell

from .conftest import notebook_of, outputs_text

pytestmark = [pytest.mark.kernel]



class Kernel:
    """One live kernel; ``run(code)`` executes a cell and returns what it printed."""

    def __init__(self, client, nb):
        self.client, self.nb = client, nb

    def run(self, code: str) -> str:
        cell = new_code_cell(code)
        self.nb.cells.append(cell)
        self.client.execute_cell(cell, len(self.nb.cells) - 1)
        return outputs_text(cell)

    def value(self, expression: str):
        """A JSON-able expression evaluated in the kernel."""
        out = self.run(f"import json as _j\nprint('VALUE', _j.dumps({expression}))")
        return json.loads(re.search(r"^VALUE (.*)$", out, re.M)[1])

    def poll(self, expression: str, predicate, timeout: float = 300, every: float = 0.5):
        deadline = time.monotonic() + timeout
        while True:
            value = self.value(expression)
            if predicate(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{expression} is still {value!r} after {timeout} s")
            time.sleep(every)


@contextmanager
def kernel(cwd):
    from nbclient import NotebookClient

    nb = notebook_of()
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}})
    with client.setup_kernel():
        yield Kernel(client, nb)




def test_choices_follow_the_catalog_and_invalid_disables_submit(workdir):
    with kernel(workdir) as k:
        k.run("from caliban_jupyter import form\n"
              "f = form('train.py', initial={'backend': 'local'})")
        k.run("f.accelerator.value = 'V100'")
        assert k.value("[v for _, v in f.count.options]") == [1, 2, 4, 8]
        k.run("f.accelerator.value = 'A100'")
        machines = k.value("[v for _, v in f.machine_type.options if v]")
        assert machines and all(m.startswith("a2-") for m in machines)
        assert k.value("f.submit_button.disabled") is False
        k.run("f.accelerator.value = 'V100'\nf.count.value = 8\nf.accelerator.value = 'T4'")
        assert k.value("f.submit_button.disabled") is True
        assert "T4 in counts 1, 2, 4 only" in k.value("f.error")
        assert "T4 in counts 1, 2, 4 only" in k.value("f.message.value")


@pytest.mark.docker
def test_submit_from_the_form_then_follow_and_stop_in_the_table(workdir):
    with kernel(workdir) as k:
        k.run("import os\nfrom caliban_jupyter import form\n"
              "opts = {'interval': 0.5, 'max_interval': 2}\n"
              "f = form('train.py', initial={'backend': 'local', 'nogpu': True, "
              "'xgroup': 'kw-form', 'registry': '127.0.0.1:5000', "
              "'experiment_config': {'x': [1, 2]}}, table_options=opts)\nf")
        assert k.value("f.error") is None
        k.run("f.submit_button.click()")
        # The click returned while the submission runs in its own thread.
        k.poll("f.table is not None or f.failure", bool, timeout=600)
        assert k.value("f.failure") is None
        states = k.poll("f.table.states()", lambda s: s == {"SUCCEEDED": 2}, timeout=300)
        assert states == {"SUCCEEDED": 2}
        assert k.value("f.table.running") is False  # stopped once all were terminal
        assert k.value("f.results.children[0].submit.value") == 2
        assert "2 SUCCEEDED" in k.value("f.table.summary.value")
        assert "TRAINED 2" in k.value("f.table.show_logs(2)")

        # A second sweep of long jobs: stop one row, the other keeps running.
        k.run("g = form('train.py', initial={'backend': 'local', 'nogpu': True, "
              "'xgroup': 'kw-stop', 'registry': '127.0.0.1:5000', "
              "'experiment_config': {'x': [1, 2], 'sleep': [600]}}, table_options=opts)\n"
              "g.submit_button.click()")
        k.poll("g.table is not None and g.table.states()",
               lambda s: s == {"RUNNING": 2}, timeout=600)
        k.run("g.table.row(1).stop.click()")
        # The click's thread says how many jobs it asked to stop once its cancels are sent:
        # a wrongly broad stop would have asked job 2 too, and shown it by the next refresh.
        said = k.poll("g.table.status.value", lambda v: "to stop" in v, timeout=120)
        assert "asked 1 job(s) to stop" in said
        k.poll("[r.state for r in g.table.records]",
               lambda s: s[0] == "CANCELLED", timeout=120)
        k.run("g.table.refresh()")
        assert k.value("[r.state for r in g.table.records]") == ["CANCELLED", "RUNNING"]
        k.run("g.table.stop_all.click()")
        k.poll("g.table.states()", lambda s: s == {"CANCELLED": 2}, timeout=120)

    # After a restart, %caliban_status brings the same table back from history/labels.
    with kernel(workdir) as k:
        out = k.run("%load_ext caliban_jupyter\n%caliban_status --xgroup kw-form")
        cell = k.nb.cells[-1]
        mimes = [set(o.get("data", {})) for o in cell.outputs
                 if o.output_type in ("execute_result", "display_data")]
        assert any("application/vnd.jupyter.widget-view+json" in m for m in mimes), out
        assert k.value("_.table().states()") == {"SUCCEEDED": 2}
        assert k.value("type(_.table()).__name__") == "JobTable"
