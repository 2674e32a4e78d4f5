"""The cutoff core: stop rules, their calibration and the termination metrics.

numpy only (no torch, no Lava), so every stage may import it: the Lava
monitor process, the torch engine, the export metadata checks and the
pipelines apply the same code. The exact binomial figures of calibration and
reports (:mod:`lavacut.cutoff.binomial`) import scipy inside their functions.
"""
