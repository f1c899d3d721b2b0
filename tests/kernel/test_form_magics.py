"""`%caliban_form`, `%%caliban_cloud --form` and `caliban_jupyter.form()` in a real kernel."""

from __future__ import annotations

import pytest

from .test_widgets_kernel import kernel

pytestmark = [pytest.mark.kernel]


def test_form_magics_open_prefilled_forms_and_capture_the_cell(workdir):
    with kernel(workdir) as k:
        k.run("%load_ext caliban_jupyter")
        k.run("f = %caliban_form --nogpu --backend local --xgroup kf-line train.py -- --x 1")
        assert k.value("[f.target.value, f.nogpu.value, f.texts['xgroup'].value, "
                       "f.script_args.value, f.backend.value]") == [
            "train.py", True, "kf-line", "--x 1", "local"]
        assert k.value("len(f.validate().specs)") == 1

        k.run("scale = 3\ndef double(v):\n    return 2 * v * scale")
        k.run("sweep_cfg = {'n': [1, 2]}")
        k.run("%%caliban_cloud --form --nogpu --backend local --experiment_config sweep_cfg\n"
              "print('RESULT', double(n))")
        k.run("g = _")
        assert k.value("type(g).__name__") == "CalibanForm"
        assert k.value("len(g.validate().specs)") == 2
        program = k.value("g.request().program")
        # The function's definition is replayed; the value it reads ships from the kernel.
        assert "def double" in program and "values the cell reads: scale (int" in program
        assert k.value("list(g.request().program_parameters)") == ["n"]

        k.run("h = caliban_jupyter.form('train.py', nogpu=True, backend='local') "
              "if 'caliban_jupyter' in dir() else __import__('caliban_jupyter').form("
              "'train.py', nogpu=True, backend='local')")
        assert k.value("[h.target.value, h.nogpu.value]") == ["train.py", True]


def test_form_for_a_cell_that_uses_an_undefined_name_is_one_error(workdir):
    with kernel(workdir) as k:
        k.run("%load_ext caliban_jupyter")
        from nbclient.exceptions import CellExecutionError

        with pytest.raises(CellExecutionError) as e:
            k.run("%%caliban_cloud --form --nogpu --backend local\nprint(never_defined)")
        out = str(e.value)
        assert "UsageError: Cannot capture" in out and "never_defined (used at line 2" in out
        assert "Traceback" not in out
