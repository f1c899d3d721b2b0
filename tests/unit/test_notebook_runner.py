"""The notebook runner's pure parts: parameters from the job's arguments, and where they
are injected (papermill's convention). tests/kernel/test_notebook_runner.py executes it."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from caliban_jupyter.packaging.dockerfile import DockerfileSpec, render_dockerfile
from caliban_jupyter.packaging.jobfiles import caliban_notebook as runner
from caliban_jupyter.packaging.jobfiles import notebook_command, runtime_files
from caliban_jupyter.spec.target import classify_target


def test_parameters_from_job_arguments():
    params, skipped = runner.parse_parameters(
        ["--epochs", "5", "--lr=0.1", "--name", "run a", "--deep", "--layers", "[2, 3]",
         "positional", "--bad-name", "1"])
    assert params == {"epochs": 5, "lr": 0.1, "name": "run a", "deep": True,
                      "layers": [2, 3]}
    assert skipped == ["positional", "--bad-name 1"]


def _nb(*cells):
    return new_notebook(cells=list(cells))


def test_injected_after_the_parameters_cell_replacing_an_earlier_injection():
    tagged = new_code_cell("epochs = 1")
    tagged.metadata["tags"] = ["parameters"]
    old = new_code_cell("# Parameters\nepochs = 9")
    old.metadata["tags"] = ["injected-parameters"]
    nb = _nb(new_markdown_cell("# t"), new_code_cell("import os"), tagged, old,
             new_code_cell("steps = epochs * 2"))
    where = runner.inject_parameters(nb, {"epochs": 5, "name": "a"})
    assert where == 3
    assert [c.source for c in nb.cells[2:]] == [
        "epochs = 1", "# Parameters\nepochs = 5\nname = 'a'\n", "steps = epochs * 2"]
    assert nb.cells[3].metadata["tags"] == ["injected-parameters"]


def test_injected_at_the_top_without_a_parameters_cell():
    nb = _nb(new_code_cell("x = 1"))
    assert runner.inject_parameters(nb, {"x": 2}) == 0
    assert nb.cells[0].source == "# Parameters\nx = 2\n"


def test_mark_error_links_the_failing_cell():
    nb = _nb(new_code_cell("a = 1"), new_code_cell("1/0"))
    runner.mark_error(nb, 1, "In [2]", "ZeroDivisionError: division by zero")
    assert nb.cells[0].metadata["tags"] == ["papermill-error-cell-tag"]
    assert 'href="#caliban-error-cell">In [2]</a>' in nb.cells[0].source
    assert 'id="caliban-error-cell"' in nb.cells[2].source
    assert nb.cells[3].metadata["caliban"] == {"failed": True}
    nbformat.validate(nb)


def test_notebook_targets_run_the_runner_with_its_runtime(tmp_path):
    (tmp_path / "nb.ipynb").write_text("{}")
    target = classify_target("nb.ipynb", tmp_path)
    assert target.command() == list(notebook_command("nb.ipynb"))
    assert set(runtime_files(notebook=True)) == {"caliban_outputs.py", "caliban_notebook.py"}
    text = render_dockerfile(DockerfileSpec(base_image="b", entrypoint=("x",),
                                            notebook_runtime=True))
    assert ("RUN python3 -c 'import nbclient, nbformat, ipykernel' 2>/dev/null || "
            "python3 -m pip install --no-cache-dir nbclient nbformat ipykernel") in text
    assert "nbclient" not in render_dockerfile(DockerfileSpec(base_image="b",
                                                              entrypoint=("x",)))


@pytest.mark.parametrize("text", ["--epochs", "--epochs --lr 1"])
def test_bare_flags_are_true(text):
    params, _ = runner.parse_parameters(text.split())
    assert params["epochs"] is True


def test_a_swept_false_reaches_a_notebook_as_false(tmp_path):
    from caliban_jupyter.service.plan import CloudRequest, plan_from_request

    nbformat.write(_nb(new_code_cell("augment = True")), tmp_path / "nb.ipynb")
    plan = plan_from_request(CloudRequest(module="nb.ipynb", cwd=str(tmp_path), env={},
                                          backend="local", nogpu=True,
                                          experiment_config={"augment": [True, False]}))
    assert [s.args for s in plan.specs] == [("--augment",), ("--augment", "False")]
    assert [runner.parse_parameters(list(s.args))[0] for s in plan.specs] == [
        {"augment": True}, {"augment": False}]
