"""The top layer: pipelines that span stages (calibrate, evaluate, run,
verify, experiments). The command line and sims/benchmark.py call only this
layer; nothing below imports it."""
