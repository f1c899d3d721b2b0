"""The cache of which distributions provide a module: read again when the environment
changes (a distribution installed or removed), never stale."""

from __future__ import annotations

import importlib.metadata
import sys

from caliban_jupyter.capture import distributions
from caliban_jupyter.capture.program import pinned_requirements


def install(site, name: str, version: str, module: str) -> None:
    """What pip leaves in site-packages: the module and its ``*.dist-info``."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "top_level.txt").write_text(module + "\n")
    (site / f"{module}.py").write_text("")


def test_an_install_or_removal_is_seen_by_the_next_call(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    assert "cachedmod" not in distributions.providers()
    assert pinned_requirements(["cachedmod"]) == ()

    install(site, "cached-dist", "1.0", "cachedmod")
    assert distributions.providers()["cachedmod"] == ["cached-dist"]
    assert pinned_requirements(["cachedmod.sub"]) == ("cached-dist==1.0",)

    for path in sorted(site.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    install(site, "cached-dist", "2.0", "cachedmod")  # an upgrade: removed, then added
    assert pinned_requirements(["cachedmod"]) == ("cached-dist==2.0",)


def test_unchanged_environment_is_read_once(monkeypatch):
    distributions.providers()
    reads = []
    real = importlib.metadata.packages_distributions
    monkeypatch.setattr(importlib.metadata, "packages_distributions",
                        lambda: reads.append(1) or real())
    first = distributions.providers()
    assert distributions.providers() is first and reads == []
    assert first == real()
