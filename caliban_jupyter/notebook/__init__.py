"""The notebook front end: magics, the Python API, Sweep, session.

May import the service, widgets and everything below them but backends, packaging,
capture and the emulator (a Sweep is a view of a JobGroup).
"""
