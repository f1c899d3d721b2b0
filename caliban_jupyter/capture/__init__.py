"""Notebook code to a job's program (pure apart from reading notebooks and local modules).

``program`` captures a ``%%caliban_cloud`` cell with what it depends on from the kernel's
history (``scan`` cells into statements, ``names`` what each binds, reads and changes,
``deps`` slices them, ``render`` lays out the program, ``shell`` makes ``!cmd``/``%pip``
runnable), ``local`` finds the modules beside the notebook it imports and ``notebook``
turns a whole ``.ipynb`` into one program.

May import: ``caliban_jupyter.errors`` and ``caliban_jupyter.spec``; nothing of packaging,
backends, storage, service or the front ends.
"""
