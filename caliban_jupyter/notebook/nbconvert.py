"""``jupyter nbconvert --to caliban NOTEBOOK.ipynb``: the notebook as a job directory, zipped.

Registered through the ``nbconvert.exporters`` entry point (``pyproject.toml``), so
nbconvert finds it by name and JupyterLab's "Save and Export Notebook As" menu lists it
with no extra code; the download is ``NOTEBOOK.zip`` holding ``NOTEBOOK/`` with the same
files as ``caliban export NOTEBOOK.ipynb --to NOTEBOOK``. nbconvert's writer writes one
file per notebook, which is why this is a zip: ``unzip NOTEBOOK.zip`` gives the directory.

Importing this module loads only nbconvert's base class and traitlets (nbconvert imports
every exporter to list them); caliban's pipeline loads when a notebook is exported.
"""

from __future__ import annotations

import os
from typing import Any

from nbconvert.exporters.exporter import Exporter
from nbconvert.utils.exceptions import ConversionException
from traitlets import Unicode, default


class CalibanExporter(Exporter):
    """A notebook as a zipped job directory that ``caliban cloud`` submits as it is."""

    export_from_notebook = "Caliban job"
    output_mimetype = "application/zip"

    flags = Unicode(
        "",
        help="caliban cloud flags that define the job, as on the command line, e.g. "
             "'--nogpu --experiment_config exp.json -- --epochs 3' (paths relative to the "
             "directory nbconvert runs in).",
    ).tag(config=True)

    @default("file_extension")
    def _file_extension_default(self) -> str:
        return ".zip"

    def from_notebook_node(  # type: ignore[override]  # nbconvert's binary exporters (PDF)
            self, nb: Any, resources: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[bytes, dict[str, Any]]:  # return bytes too, which its annotation leaves out
        """Export ``nb``; ``resources["metadata"]`` gives its name and directory."""
        nb_copy, resources = super().from_notebook_node(nb, resources, **kw)
        from ..errors import CalibanError

        metadata = resources.get("metadata", {})
        name = metadata.get("name") or "notebook"
        try:
            output = _zip(nb_copy, name, metadata.get("path") or os.getcwd(), self.flags)
        except CalibanError as e:
            # nbconvert reports a ConversionException as a failed conversion (exit 1 on the
            # command line; the server answers with the message).
            raise ConversionException(f"caliban: {e}") from None
        resources["output_extension"] = self.file_extension
        return output, resources


def _zip(nb: Any, name: str, cwd: str, flags: str) -> bytes:
    from ..flags import add_export_arguments
    from ..flags_parse import MagicParser, split_line
    from ..service.export import notebook_job, zip_job
    from ..service.plan import CloudRequest

    parser = MagicParser(prog="CalibanExporter.flags")
    add_export_arguments(parser)
    tokens, script_args = split_line(flags)
    args = parser.parse_args(tokens)
    args.script_args = script_args
    if args.overwrite:
        raise _not_here()
    request = CloudRequest.from_namespace(args, module=f"{name}.ipynb", cwd=cwd)
    return zip_job(notebook_job(request, notebook=nb), name)


def _not_here() -> Exception:
    from ..errors import UsageError

    return UsageError("--force does not apply here: nbconvert writes a zip file (it "
                      "replaces an older one as nbconvert always does)")
