"""Shell lines and top-level ``await`` of notebook cells, made runnable by a job (pure).

IPython turns ``!cmd`` into ``get_ipython().system('cmd')``, ``%pip install x`` into
``get_ipython().run_line_magic('pip', 'install x')`` and a ``%%bash`` cell into
``get_ipython().run_cell_magic('bash', '', '...')``. A job has no IPython: :func:`runnable`
rewrites these calls to small helpers that the program defines (:data:`SHELL_HELPERS`),
which run the same command with :mod:`subprocess`.

Decisions
---------
- A failing command stops the job (``check=True``), where the kernel only prints the
  failure: a failed ``pip install`` or download must not let the job go on and compute
  something else. The traceback names the command.
- ``{expression}`` and ``$name`` in ``!`` and ``%pip`` lines are expanded when the line runs,
  from the program's variables, with IPython's rules (all or nothing: a name that does not
  exist leaves the line as written). The names they read are captured with the line.
- ``%%bash`` and ``%%sh`` cells without options run their text with that shell, unexpanded,
  as IPython does. Other magics (``%matplotlib``, ``%%time``, ``x = !ls``...) do not run in a
  job; the capture says so, one line each.
- Top-level ``await`` (IPython's autoawait) is run as IPython runs it: the code is compiled
  with ``PyCF_ALLOW_TOP_LEVEL_AWAIT`` and evaluated in the program's globals, so assignments
  stay module-level, and the coroutine runs in one event loop shared by the whole program.
"""

from __future__ import annotations

import ast
import re
import string

#: Cell magics whose body the job runs with that shell.
SHELLS = ("bash", "sh")

#: Names the helpers define in the program (they are not needed from the notebook).
HELPER_NAMES = frozenset({"_caliban_system", "_caliban_pip", "_caliban_script",
                          "_caliban_await"})

# Defined at the top of a program that runs shell lines.
SHELL_HELPERS = '''\
def _caliban_expand(text, namespace):
    """Expand {expression} and $name in a shell line as IPython does (all or nothing)."""
    import re
    import string

    dollar = re.compile(r"(.*?)\\$(\\$?[\\w\\.]+)(?=([^']*'[^']*')*[^']*$)")
    convert = {"r": repr, "s": str, "a": ascii}
    out = []
    try:
        for literal, field, spec, conversion in string.Formatter().parse(text):
            start = 0
            for match in dollar.finditer(literal):
                before, name = match.group(1, 2)
                out += [before, name if name[0] == "$" else str(eval(name, namespace))]
                start = match.end()
            out.append(literal[start:])
            if field is not None:
                value = eval(field + (":" + spec if spec else ""), namespace)
                out.append(format(convert.get(conversion, lambda v: v)(value), ""))
    except Exception:  # IPython, too, runs the line as written when expansion fails
        return text
    return "".join(out)


def _caliban_run(command, **options):
    """Run one shell step of the notebook; a failure stops the job with its command."""
    import importlib
    import os
    import site
    import subprocess
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    subprocess.run(command, check=True, **options)
    # `pip install` as a non-root user creates the user site directory: make it importable.
    user_site = site.getusersitepackages()
    if os.path.isdir(user_site) and user_site not in sys.path:
        site.addsitedir(user_site)
    importlib.invalidate_caches()


def _caliban_system(command):
    """A `!command` line: run by /bin/sh, after IPython's variable expansion."""
    import sys

    caller = sys._getframe(1)
    namespace = {**caller.f_globals, **caller.f_locals}
    _caliban_run(_caliban_expand(command, namespace), shell=True)


def _caliban_pip(line):
    """A `%pip ...` line: pip of this interpreter, as IPython's %pip."""
    import shlex
    import sys

    caller = sys._getframe(1)
    line = _caliban_expand(line, {**caller.f_globals, **caller.f_locals})
    _caliban_run([sys.executable, "-m", "pip", *shlex.split(line)])


def _caliban_script(shell, script):
    """A %%bash or %%sh cell: the shell reads the cell's text, as IPython's %%bash does."""
    _caliban_run([shell], input=script, text=True)'''

# Defined at the top of a program with top-level await.
AWAIT_HELPER = '''\
def _caliban_await(source):
    """Code that awaits at top level, run as IPython runs it: compiled with top-level await
    allowed, evaluated in this module's globals, in one event loop for the whole program."""
    import ast
    import asyncio
    import inspect
    import linecache

    global _caliban_loop
    name = f"<awaiting cell {len(_caliban_awaited) + 1}>"
    _caliban_awaited.append(name)
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    code = compile(source, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, globals())
    if inspect.iscoroutine(result):
        if _caliban_loop is None:
            _caliban_loop = asyncio.new_event_loop()
            asyncio.set_event_loop(_caliban_loop)
        _caliban_loop.run_until_complete(result)


_caliban_loop = None
_caliban_awaited = []'''

_DOLLAR = re.compile(r"(.*?)\$(\$?[\w\.]+)(?=([^']*'[^']*')*[^']*$)")
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def _magic_name(call: ast.Call) -> str | None:
    first = call.args[0] if call.args else None
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) \
        else None


def runnable(call: ast.Call) -> ast.Call | None:
    """The helper call a job runs for the IPython call ``call``, or ``None`` if it has none.

    ``call`` is a ``get_ipython().<method>(...)`` call (see ``capture_scan.MAGIC_METHODS``).
    """
    assert isinstance(call.func, ast.Attribute)
    method, args = call.func.attr, call.args
    helper: str | None = None
    if method == "system" and len(args) == 1 and not call.keywords:
        helper = "_caliban_system"
    elif method == "run_line_magic" and len(args) == 2 and _magic_name(call) == "pip":
        helper, args = "_caliban_pip", args[1:]
    elif (method == "run_cell_magic" and len(args) == 3 and _magic_name(call) in SHELLS
          and isinstance(args[1], ast.Constant) and not str(args[1].value).strip()):
        helper, args = "_caliban_script", [args[0], args[2]]
    if helper is None:
        return None
    new = ast.Call(func=ast.Name(id=helper, ctx=ast.Load()), args=args, keywords=[])
    return ast.copy_location(new, call)


def expansion_names(call: ast.Call) -> dict[str, int]:
    """Variables that IPython's expansion of a helper's command line reads, with its line."""
    if not (isinstance(call.func, ast.Name) and call.func.id in ("_caliban_system",
                                                                   "_caliban_pip")):
        return {}
    text = call.args[0]
    if not (isinstance(text, ast.Constant) and isinstance(text.value, str)):
        return {}
    expressions: list[str] = []
    try:
        for literal, field, spec, _ in string.Formatter().parse(text.value):
            expressions += [m.group(2) for m in _DOLLAR.finditer(literal)
                            if not m.group(2).startswith("$")]
            if field is not None:
                expressions.append(field + (":" + spec if spec else ""))
    except ValueError:  # unbalanced braces: IPython runs the line unexpanded
        return {}
    names: dict[str, int] = {}
    for expression in expressions:
        try:
            tree = ast.parse(expression.strip(), mode="eval")
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                names.setdefault(node.id, call.lineno)
    return names


def awaits_at_top_level(node: ast.AST) -> bool:
    """Whether ``node`` awaits outside any function (only IPython's autoawait runs that)."""
    if isinstance(node, (ast.Await, ast.AsyncFor, ast.AsyncWith)):
        return True
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)) and any(
            g.is_async for g in node.generators):
        return True
    if isinstance(node, _FUNCTIONS):
        # Decorators and defaults run where the function is defined; the body does not.
        outer: list[ast.AST] = list(getattr(node, "decorator_list", []))
        if not isinstance(node, ast.ClassDef):
            outer += [*node.args.defaults, *filter(None, node.args.kw_defaults)]
        return any(awaits_at_top_level(child) for child in outer)
    return any(awaits_at_top_level(child) for child in ast.iter_child_nodes(node))


def string_literal(text: str) -> str:
    """``text`` as a Python literal that reads like the code it holds, where possible."""
    for quote in ("'''", '"""'):
        if quote not in text and "\\" not in text and not text.endswith(quote[0]):
            return f"{quote}\n{text}{quote}[1:]"
    return repr(text)
