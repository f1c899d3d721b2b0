"""The text of a captured program: statements, parameters and helpers in order (pure).

Layout::

    <__future__ imports>
    <helpers for shell lines and top-level await, when the code has them>
    <experiment parameters parsed from this job's command line>
    <captured statements, in execution order; after each plain definition of a parameter,
     the line that replaces its value by the experiment's>
    <the %%caliban_cloud cell, its comments and blank lines kept>

Parameters follow papermill's rule: a swept value takes the place of the notebook's own
definition, so everything computed from it afterwards uses it. A *plain definition* binds
the name without reading it (``lr = 0.1``, ``for lr in ...``, ``from cfg import lr``,
``if fast: lr = 0.5``); updates (``lr *= 0.5``, ``lr = lr * 2``) still run on top of the
swept value. A parameter no captured statement defines is set right before the cell.
"""

from __future__ import annotations

import ast
import base64
import re
from collections.abc import Sequence

from caliban_jupyter.capture.scan import Statement
from caliban_jupyter.capture.shell import (
    AWAIT_HELPER,
    SHELL_HELPERS,
    string_literal,
)
from caliban_jupyter.capture.values import LOAD_HELPER, Shipment

#: The line that loads the shipped data, so a display can abbreviate it (``--show_program``).
SHIPPED_LINE = re.compile(r"^_caliban_load\(globals\(\), '([A-Za-z0-9+/=]*)'\)$", re.M)

# Parameters not given on the command line keep their notebook values (argparse.SUPPRESS),
# and unknown arguments are left for the program.
_PARAMETER_BLOCK = """\
def _caliban_parameters(names):
    import argparse
    import ast

    def value(text):
        try:
            return ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return text

    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for name in names:
        parser.add_argument(
            "--" + name, dest=name, nargs="?", const=True, type=value,
            default=argparse.SUPPRESS,
        )
    known, _ = parser.parse_known_args()
    return vars(known)


_caliban_swept = _caliban_parameters({names!r})
del _caliban_parameters"""


#: Marks off in the job's log what replaying earlier cells prints, when it prints anything:
#: a line on stderr before its first output and one after the replay (a silent replay
#: leaves the log as the cell alone would write it).
REPLAY_HELPER = """\
class _CalibanReplay:
    header = None
    shown = False

    def __init__(self, stream):
        self._stream = stream

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def write(self, text):
        if text and _CalibanReplay.header:
            header, _CalibanReplay.header = _CalibanReplay.header, None
            _CalibanReplay.shown = True
            self._stream.flush()
            _CalibanReplay.saved[1].write(header + "\\n")
            _CalibanReplay.saved[1].flush()
        return self._stream.write(text)

    @classmethod
    def begin(cls, header):
        import sys
        cls.header, cls.saved = header, (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = cls(sys.stdout), cls(sys.stderr)

    @classmethod
    def end(cls, footer):
        import sys
        cls.header = None  # a stream kept by the replay (a logging handler) passes writes on
        if isinstance(sys.stdout, cls) and isinstance(sys.stderr, cls):
            sys.stdout, sys.stderr = cls.saved
        if cls.shown:
            print(footer, file=sys.stderr, flush=True)"""


def readable_program(source: str) -> str:
    """``source`` for a person: the shipped values' bytes replaced by their size."""
    return SHIPPED_LINE.sub(lambda m: f"_caliban_load(globals(), '...')  # "
                                      f"{len(m.group(1)) * 3 // 4} bytes of pickled values",
                            source)


def _assign(name: str) -> str:
    return (f"if {name!r} in _caliban_swept: {name} = _caliban_swept[{name!r}]"
            f"  # the experiment's --{name}")


def _defines(statement: Statement, name: str) -> bool:
    """A plain definition of ``name``: binds it without reading it first."""
    return statement.binds(name) and not statement.star and name not in statement.uses


def _runs_shell(statement: Statement) -> bool:
    return statement.node is not None and any(
        isinstance(n, ast.Name) and n.id in ("_caliban_system", "_caliban_pip", "_caliban_script")
        for n in ast.walk(statement.node))


def _with_parameters(statement: Statement, parameters: Sequence[str], *,
                     wrap: bool = True) -> list[str]:
    source = statement.source
    if statement.awaits and wrap:
        source = f"_caliban_await({string_literal(source)})"
    return [source, *(_assign(n) for n in parameters if _defines(statement, n))]


def _body(body: Sequence[Statement], text: str, parameters: Sequence[str], *,
          wrap: bool) -> str:
    """The cell as typed (comments and blank lines kept), each statement as captured."""
    lines = text.splitlines()
    out: list[str] = []
    done = 0  # lines of ``text`` already emitted
    index = 0
    while index < len(body):
        group = [body[index]]  # statements sharing lines are emitted together
        while index + len(group) < len(body) and \
                body[index + len(group)].span[0] <= group[-1].span[1]:
            group.append(body[index + len(group)])
        start, end = group[0].span[0], group[-1].span[1]
        out += lines[done:start - 1]
        for statement in group:
            if statement.magic:
                out.append(f"# not run in the job: {statement.raw_line(statement.span[0])}")
            elif not statement.future:  # hoisted to the top
                out += _with_parameters(statement, parameters, wrap=wrap)
        done = end
        index += len(group)
    out += lines[done:]
    return "\n".join(out).rstrip()


def _replayed(cell: Sequence[Statement]) -> str:
    """Why the statements of one earlier cell are replayed: what they bind and change."""
    binds = sorted(set().union(*(s.definite | s.maybe for s in cell)))
    changes = sorted(set().union(*(s.mutates | s.acts_on | s.receivers for s in cell))
                     - set(binds))
    why = [f"binds {', '.join(binds)}"] if binds else []
    why += [f"changes {', '.join(changes)}"] if changes else []
    return "; ".join(why) or "needed"


def _loader(shipment: Shipment) -> list[str]:
    names = ", ".join(f"{n} ({kind})" for n, kind in shipment.names.items()) or "none"
    randoms = ", ".join(shipment.random) or "none"
    data = base64.b64encode(shipment.data).decode()
    return ["\n# --- the kernel's state at submission, shipped (pickled): values the cell "
            f"reads: {names}; random state: {randoms} ---",
            f"_caliban_load(globals(), '{data}')"]


def render_program(history: Sequence[Statement], parameters: Sequence[str],
                   body: Sequence[Statement], body_text: str,
                   shipment: Shipment | None = None) -> str:
    """The program's source: see the module docstring for its layout."""
    everything = [*history, *body]
    parts = sorted({s.source.strip() for s in everything if s.future})
    code = [s for s in everything if not s.future and not s.magic]
    if any(map(_runs_shell, code)):
        parts.append("\n# --- runs the notebook's shell lines (!cmd, %pip, %%bash) ---")
        parts.append(SHELL_HELPERS)
    if any(s.awaits for s in code):
        parts.append("\n# --- runs code that awaits at top level, as IPython does ---")
        parts.append(AWAIT_HELPER)
    defined = [n for n in parameters if any(_defines(s, n) for s in code)]
    if parameters:
        flags = ", ".join(f"--{n}" for n in parameters)
        parts.append(f"\n# --- experiment parameters ({flags}): each replaces the notebook's "
                     "value where it is defined ---")
        parts.append(_PARAMETER_BLOCK.format(names=list(parameters)))
    if shipment is not None:
        parts.append("\n# --- loads the kernel's values and random state before the cell ---")
        parts.append(LOAD_HELPER)
    replay = [s for s in history if not s.future and not s.magic]
    cells = list(dict.fromkeys(s.cell for s in replay))
    # A cell's program (not a whole notebook's): the log shows where the replay of earlier
    # cells ends and the cell's own output begins, and the program says why each is there.
    banners = bool(replay) and any(not s.magic for s in body)
    if banners:
        parts.append("\n# --- replayed from earlier cells: what the cell needs that is not "
                     "shipped ---")
        parts += [f"#   In[{c}]: {_replayed([s for s in replay if s.cell == c])}"
                  for c in cells]
        parts.append(REPLAY_HELPER)
        parts.append(f"_CalibanReplay.begin('[caliban] replaying {len(replay)} statements of "
                     f"earlier cells (In[{', '.join(map(str, cells))}]); their output is not "
                     "the cell\\'s')")
    for index, statement in enumerate(replay):
        if index == 0 or statement.cell != replay[index - 1].cell:
            parts.append(f"\n# --- In[{statement.cell}] ---")
        parts += _with_parameters(statement, parameters)
    undefined = [n for n in parameters if n not in defined]
    if undefined:
        parts.append("\n# --- experiment parameters no captured code defines ---")
        parts += [_assign(n) for n in undefined]
    if shipment is not None:
        parts += _loader(shipment)
    if banners:
        parts.append("_CalibanReplay.end('[caliban] the cell starts here')")
    parts.append("\n# --- the %%caliban_cloud cell ---")
    awaits = any(s.awaits for s in body)
    cell_text = _body(body, body_text, parameters, wrap=not awaits)
    if awaits:  # one piece, so the whole cell shares its scope and event loop as in IPython
        cell_text = f"_caliban_await({string_literal(cell_text)})"
    parts.append(cell_text)
    return "\n".join(parts) + "\n"
