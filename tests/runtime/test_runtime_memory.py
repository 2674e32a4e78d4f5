"""A 1,000-sample stream run keeps resident memory growth under 5 %.

Resident memory of the whole process tree (this process and Lava's children)
is sampled from /proc while the run goes on; growth is measured from the
first sample taken after the runtime is up to the last one before it ends.
"""

import os
import threading
import time

import pytest
from lavacut_testing import DENSE as EXPORT, tree_rss_kib


@pytest.mark.slow
def test_thousand_sample_stream_run_memory_growth_under_5_percent():
    from lavacut.export.artifact import Export
    from lavacut.runtime.runner import run_split

    assert EXPORT.is_file(), f"the shipped export {EXPORT} is missing"
    export = Export.open(EXPORT)
    train = export.frames(export.config(), "train", 1000, progress=False)
    frames, labels = train.frames, train.labels
    rule = export.rule(None, None, frames.shape[-1])

    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def poll():
        me = os.getpid()
        while not stop.is_set():
            samples.append((time.perf_counter(), tree_rss_kib(me)))
            time.sleep(0.25)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    try:
        res = run_split(EXPORT, frames, labels, rule, mode="stream", progress=False)
    finally:
        stop.set()
        th.join()
    assert len(res.t_c) == 1000
    # the steady part of the run: after the Lava children are up (the tree
    # has grown past this process alone) until the end
    base = samples[0][1]
    running = [r for _, r in samples if r > base * 1.5]
    assert len(running) >= 8, f"too few memory samples during the run: {samples}"
    early, late = running[len(running) // 10], running[-1]
    growth = (late - early) / early
    assert growth < 0.05, f"resident memory grew {100 * growth:.1f} % ({early} -> {late} KiB)"
