"""Stage 5, measure: what the cutoff saved and how far to trust it, on top of
the runs: the JSON reports and their plots (:mod:`.reports`, the RCS sweep's
:mod:`.rcs_report`; its statistics and verdicts, :mod:`.rcs_stats`),
NeuroBench's metrics of a network (:mod:`.neurobench`)
and why Lava and the SLAYER rebuild could differ (:mod:`.exactness`).

The numbers themselves (termination summaries, guarantees, synaptic
operations) are computed by the numpy core :mod:`lavacut.cutoff`, which the
runtime and the torch engine share; this stage turns them into reports.
"""
