"""What to run, decided purely: catalog, accelerators, experiments, labels, job specs.

May import: spec only (and ``caliban_jupyter.errors``). No I/O beyond its own data files.
"""
