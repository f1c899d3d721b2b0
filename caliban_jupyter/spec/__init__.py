"""What to run, decided purely: catalog, accelerators, experiments, labels, job specs."""
