"""The pipeline every front end calls: plan, submit, groups, track."""
