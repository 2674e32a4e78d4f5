"""Open once (issue 26): a ``lavacut run`` opens the NetX file twice:
once in ``Export.open`` (validation, metadata, layers and the content hash
from one ``h5py.File``) and once in netx's Network loader (it opens the file
itself), loaded once for the full-T run and the cutoff run; the runtime's
layout comes from the ``Export``'s layers. Measured by counting
``h5py.File`` opens of the file (a subclass that counts, then opens as
h5py does; what lavacut and netx call at run time is the ``h5py.File``
attribute, read at each call)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from lavacut_testing import DENSE

from lavacut.cutoff.rules import FixedT


@pytest.fixture
def opens(monkeypatch):
    """The list of opens of a ``.net`` file, by resolved path, while the test runs."""
    seen: list[Path] = []

    class CountingFile(h5py.File):
        def __init__(self, name, *args, **kwargs):
            if isinstance(name, (str, Path)) and str(name).endswith(".net"):
                seen.append(Path(name).resolve())
            super().__init__(name, *args, **kwargs)

    monkeypatch.setattr(h5py, "File", CountingFile)
    return seen


def test_export_open_reads_the_file_once(opens):
    """Validation, metadata, layers and the hash from one open, the same as
    the path-taking readers give."""
    from lavacut.export.artifact import Export
    from lavacut.export.netx.file import read_stored_metadata
    from lavacut.export.netx.inspect import inspect_layers

    export = Export.open(DENSE)
    assert opens == [DENSE.resolve()]
    assert export.meta == read_stored_metadata(DENSE) and export.meta["cutoff"]
    assert export.layers == inspect_layers(DENSE)


def _export_and_frames(n: int):
    from lavacut.pipelines.run import RunRequest, open_run

    export, cfg, split, _ = open_run(RunRequest(DENSE, split="test"))
    data = export.frames(cfg, split, n, progress=False)
    return export, data.frames, data.labels


def test_two_graphs_from_one_opened_network_read_the_file_once(opens):
    from lavacut.runtime.graph import build_split_graph
    from lavacut.runtime.network import OpenedNetwork

    export, frames, _ = _export_and_frames(4)
    before = len(opens)
    assert opens == [DENSE.resolve()]  # Export.open: one read
    net = OpenedNetwork(export)
    assert len(opens) == before  # the layout comes from the Export's layers: no read
    graphs = [build_split_graph(net, frames, FixedT(), halt=False, fused=True, lanes=2) for _ in range(2)]
    assert len(opens) == before + 1  # netx's Network: loaded once for both graphs
    assert all(g.fused is not None and g.lanes == 2 for g in graphs)
    assert graphs[0].fused is not graphs[1].fused and graphs[0].net is graphs[1].net


def test_netx_graph_wires_its_processes_so_the_next_graph_loads_its_own(opens):
    from lavacut.runtime.graph import build_split_graph
    from lavacut.runtime.network import OpenedNetwork

    export, frames, _ = _export_and_frames(2)
    net = OpenedNetwork(export)
    before = len(opens)
    g1 = build_split_graph(net, frames, FixedT(), halt=False, fused=False)
    g2 = build_split_graph(net, frames, FixedT(), halt=False, fused=False)
    assert len(opens) == before + 2 and g1.net is not g2.net  # netx's Processes are wired into one graph each


@pytest.mark.slow
def test_run_reads_the_file_once_in_the_runtime(opens):
    """A whole ``lavacut run`` (full T and cutoff, stream, lanes): two
    reads (Export.open, netx's Network), same decisions as runs given the path."""
    from lavacut.pipelines.run import run_full_and_cutoff
    from lavacut.runtime.runner import run_split

    export, frames, labels = _export_and_frames(6)
    rule = export.rule(None, None, frames.shape[-1])
    before = len(opens)
    assert before == 1  # Export.open
    full, cut = run_full_and_cutoff(export, frames, labels, rule, mode="stream", progress=False, lanes=3)
    assert len(opens) == before + 1 == 2  # netx's Network
    by_path = run_split(DENSE, frames, labels, rule, mode="stream", progress=False, lanes=3)
    assert len(opens) == before + 3  # a path: the layers and netx's Network read again
    for a in ("t_c", "pred", "counts"):
        np.testing.assert_array_equal(getattr(cut, a), getattr(by_path, a))
    assert (full.t_c == frames.shape[-1]).all()
