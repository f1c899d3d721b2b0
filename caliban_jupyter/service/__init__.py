"""The pipeline every front end calls: preflight, plan, submit, groups, track.

May import everything below it (errors, events, spec, settings, capture, packaging,
backends, storage, records, history, tables); never the emulator (backends/local.py is
its client), nor anything above (flags, widgets, cli, notebook, server).
"""
