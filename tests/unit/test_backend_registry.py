"""The backend registry: the built-ins are entry points of caliban-jupyter's own metadata,
and a name that is not installed is one clear error listing those that are."""

from __future__ import annotations

from importlib.metadata import distribution

import pytest

from caliban_jupyter.backends import registry
from caliban_jupyter.backends.local import LocalBackend
from caliban_jupyter.backends.vertex import VertexBackend
from caliban_jupyter.errors import ConfigError


def test_the_built_ins_are_registered_in_the_package_metadata() -> None:
    points = {p.name: p.value for p in distribution("caliban-jupyter").entry_points
              if p.group == registry.GROUP}
    assert points == registry.BUILTIN
    assert registry.names()[:2] == ("vertex", "local")
    assert registry.load("vertex") is VertexBackend and registry.load("LOCAL") is LocalBackend


def test_an_unknown_name_lists_the_installed_ones() -> None:
    with pytest.raises(ConfigError) as e:
        registry.load("mars", source="environment CALIBAN_BACKEND")
    assert str(e.value).startswith("unknown backend 'mars' (from environment CALIBAN_BACKEND); "
                                   "the installed job services are: vertex, local")
    assert "entry-point group 'caliban_jupyter.backends'" in str(e.value)


def test_a_broken_plugin_is_a_clear_error(tmp_path, monkeypatch) -> None:
    info = tmp_path / "broken_service-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-service\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[caliban_jupyter.backends]\nbroken = no_such_module_here:Service\n"
        "misnamed = caliban_jupyter.backends.local:LocalBackend\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert registry.names() == ("vertex", "local", "broken", "misnamed")
    with pytest.raises(ConfigError, match=r"backend 'broken' is installed "
                                          r"\(no_such_module_here:Service\) but cannot be loaded"):
        registry.load("broken")
    with pytest.raises(ConfigError, match="names itself 'local'"):
        registry.load("misnamed")
