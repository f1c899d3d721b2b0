"""The kernel's values a cell reads, shipped to the job as they are at submission.

Replaying the cells that computed a value gives the kernel's value only when every effect
on it is seen and nothing random happened on the way; shipping the value itself is exact.
So for each name the submitted cell reads (and each global a notebook function it calls
reads), :class:`Shipper` pickles the kernel's object, and the program loads it right
before the cell (:mod:`caliban_jupyter.capture.render`); only what cannot be shipped is
replayed from the history.

Decisions
---------
- Plain :mod:`pickle` (protocol 4), so the job needs nothing installed to load it. A class
  or function the notebook defines is pickled *by name* (a persistent id): the program
  replays its definition and the loaded objects are instances of that class.
- Not shipped, replayed instead: modules (their import), the notebook's functions and
  classes (their definitions), matplotlib objects (a figure is pyplot's state, and loading
  one registers it with pyplot), a value computed from an experiment parameter (each job
  recomputes it from its own value), IPython's own variables (``_``, ``Out``...), and a
  value that does not pickle, or does not load back, or pickles to more than
  :data:`MAX_VALUE_BYTES` (all shipped values together: :data:`MAX_TOTAL_BYTES`). Our
  choice of limits: the program carries the values, and an image layer of tens of MB is
  still quick to push.
- Random state is a value: the job's ``random``, NumPy's global ``numpy.random`` state and
  PyTorch's CPU generator (those the kernel imported) start where the kernel's were at
  submission, unless a statement replayed from a swept parameter seeds them
  (``random.seed(seed)`` with ``--seed``). Generator objects (``np.random.default_rng``)
  are values like any other.
- Objects shared between shipped names stay shared (one pickle for all of them).
"""

from __future__ import annotations

import io
import pickle
import re
import sys
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_VALUE_BYTES = 20 * 2**20
MAX_TOTAL_BYTES = 64 * 2**20
PROTOCOL = 4
#: IPython's own variables (``_5``, ``_i5``, ``_oh``...): never the notebook's values.
_IPYTHON_NAME = re.compile(r"_+|_\d+|_i+\d*|_[oid]h|In|Out|get_ipython|exit|quit")


def _lookup(namespace: Mapping[str, Any], qualname: str) -> Any:
    head, *rest = qualname.split(".")
    value = namespace.get(head)
    for part in rest:
        value = getattr(value, part, None)
    return value


#: Objects of these libraries are replayed, never shipped: a figure belongs to pyplot's
#: state (loading one registers it with pyplot), and pickling one takes seconds.
_REPLAYED_LIBRARIES = ("matplotlib.",)


class _Pickler(pickle.Pickler):
    """Pickles the notebook's classes and functions by name; notes the modules used."""

    def __init__(self, file: io.BytesIO, namespace: Mapping[str, Any]) -> None:
        super().__init__(file, protocol=PROTOCOL)
        self.namespace = namespace
        self.definitions: set[str] = set()
        self.modules: set[str] = set()

    def persistent_id(self, obj: Any) -> Any:
        if not isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)):
            if type(obj).__module__.startswith(_REPLAYED_LIBRARIES):
                raise pickle.PicklingError(
                    f"it holds a {type(obj).__name__}, part of pyplot's state (replayed)")
            return None
        module = getattr(obj, "__module__", None) or ""
        if module == "__main__":
            qualname = getattr(obj, "__qualname__", "")
            if "<" in qualname or _lookup(self.namespace, qualname) is not obj:
                raise pickle.PicklingError(
                    f"it holds `{qualname}`, defined in the notebook but not as a name of "
                    "it (a lambda or a nested function)")
            self.definitions.add(qualname.split(".")[0])
            return ("__main__", qualname)
        self.modules.add(module.split(".")[0])
        return None


class _TooBig(Exception):
    pass


class _Limited(io.BytesIO):
    """A buffer that stops the pickling of a value past the limit (a 2 GB DataFrame is
    not pickled whole just to learn it is too big)."""

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > MAX_VALUE_BYTES:
            raise _TooBig
        return super().write(data)


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, namespace: Mapping[str, Any]) -> None:
        super().__init__(io.BytesIO(data))
        self.namespace = namespace

    def persistent_load(self, pid: Any) -> Any:
        return _lookup(self.namespace, pid[1])


def _size(n: int) -> str:
    if n < 2**10:
        return f"{n} bytes"
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.1f} KB"


@dataclass
class Shipment:
    """What the program loads right before the cell."""

    data: bytes
    names: dict[str, str]  # name -> "type, size" for the program's comment
    random: tuple[str, ...]
    modules: tuple[str, ...]


@dataclass
class Shipper:
    """Decides, name by name, whether the kernel's value can be shipped.

    ``derived`` are the names computed from experiment parameters (never shipped).
    """

    namespace: Mapping[str, Any]
    derived: frozenset[str] = frozenset()
    shipped: dict[str, int] = field(default_factory=dict)
    definitions: dict[str, set[str]] = field(default_factory=dict)
    modules: set[str] = field(default_factory=set)
    _why_not: dict[str, str] = field(default_factory=dict)

    def why_not(self, name: str) -> str | None:
        """``None`` when ``name``'s value ships; else why it does not (a phrase)."""
        if name in self.shipped:
            return None
        if name not in self._why_not:
            self._why_not[name] = self._check(name) or ""
        return self._why_not[name] or None

    def _check(self, name: str) -> str | None:
        if _IPYTHON_NAME.fullmatch(name):
            return "it exists only inside IPython"
        if name in self.derived:
            return "it is computed from an experiment parameter"
        if name not in self.namespace:
            return "the kernel holds no such variable"
        value = self.namespace[name]
        if isinstance(value, types.ModuleType):
            return "it is a module"
        if isinstance(value, (type, types.FunctionType)) and \
                getattr(value, "__module__", None) == "__main__":
            return "it is a definition of the notebook"
        buffer = _Limited()
        pickler = _Pickler(buffer, self.namespace)
        try:
            pickler.dump(value)
            data = buffer.getvalue()
            _Unpickler(data, self.namespace).load()  # what does not load back is not shipped
        except _TooBig:
            return (f"its {type(value).__name__} pickles to more than the "
                    f"{_size(MAX_VALUE_BYTES)} a value may ship")
        except Exception as error:  # noqa: BLE001 - any failure means: replay it instead
            text = str(error).split("\n")[0][:120]
            if "part of pyplot's state" in text:
                return "it is a matplotlib object: replayed with pyplot's state"
            return text if text.startswith("it holds") else \
                f"its {type(value).__name__} does not pickle ({type(error).__name__}: {text})"
        total = sum(self.shipped.values()) + len(data)
        if total > MAX_TOTAL_BYTES:
            return (f"the values shipped with it would take {_size(total)}, over "
                    f"{_size(MAX_TOTAL_BYTES)}")
        self.shipped[name] = len(data)
        self.definitions[name] = pickler.definitions
        self.modules |= pickler.modules
        return None

    def pack(self, names: Iterable[str], seeded: Iterable[str] = ()) -> Shipment:
        """One pickle of the shipped ``names`` (sharing kept) and the random state."""
        names = [n for n in names if n in self.shipped]
        values = {n: self.namespace[n] for n in names}
        state = random_state(exclude=set(seeded))
        buffer = io.BytesIO()
        _Pickler(buffer, self.namespace).dump({"values": values, "random": state})
        described = {n: f"{type(values[n]).__name__}, {_size(self.shipped[n])}" for n in names}
        return Shipment(buffer.getvalue(), described, tuple(state),
                        tuple(sorted(self.modules - {"builtins", "__main__"})))


def random_state(exclude: set[str] = frozenset()) -> dict[str, Any]:  # type: ignore[assignment]
    """The kernel's global random states, as plain Python data (loads without NumPy)."""
    state: dict[str, Any] = {}
    if "random" not in exclude:
        import random

        state["random"] = random.getstate()
    numpy = sys.modules.get("numpy")
    if numpy is not None and "numpy" not in exclude:
        kind, keys, position, has_gauss, gauss = numpy.random.get_state()
        state["numpy"] = (kind, keys.tolist(), int(position), int(has_gauss), float(gauss))
    torch = sys.modules.get("torch")
    if torch is not None and "torch" not in exclude and hasattr(torch, "get_rng_state"):
        state["torch"] = torch.get_rng_state().tolist()
    return state


#: The program's loader: the shipped values into its globals, the random states restored.
LOAD_HELPER = '''\
def _caliban_load(namespace, data):
    import base64
    import io
    import pickle

    class Loader(pickle.Unpickler):
        def persistent_load(self, pid):  # a class or function of the notebook, by name
            head, *rest = pid[1].split(".")
            value = namespace[head]
            for part in rest:
                value = getattr(value, part)
            return value

    state = Loader(io.BytesIO(base64.b64decode(data))).load()
    namespace.update(state["values"])
    for module, saved in state["random"].items():
        try:
            if module == "random":
                import random
                random.setstate(saved)
            elif module == "numpy":
                import numpy
                numpy.random.set_state(saved)
            elif module == "torch":
                import torch
                torch.set_rng_state(torch.tensor(saved, dtype=torch.uint8))
        except (ImportError, AttributeError):  # no such module in the job (or a local
            pass  # file shadows it): nothing the job runs can draw from it'''
