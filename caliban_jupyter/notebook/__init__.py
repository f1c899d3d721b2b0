"""The notebook front end: magics, the Python API, Sweep, session."""
