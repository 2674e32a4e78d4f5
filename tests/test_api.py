"""The flat Python API (lavacut.load / run / evaluate / verify) on a shipped export."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import lavacut
from lavacut.util import LavacutError


def test_import_lavacut_is_light():
    """`import lavacut` loads no numpy, torch or Lava: the API imports the pipelines when called."""
    code = (
        "import sys, lavacut; heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'numpy', 'torch', 'lava', 'scipy', 'h5py'}); assert not heavy, heavy; "
        "assert callable(lavacut.run) and lavacut.__version__"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_load_describes_a_shipped_export():
    net = lavacut.load("embedded_dense")
    assert net.path.name == "embedded_dense.net" and net.T == 30
    assert [L.type for L in net.layers] == ["input", "dense", "dense"]
    assert net.classes == [str(k) for k in range(10)] and net.default_policy == "topk"
    assert set(net.rules) >= {"topk", "conformal"} and net.calibration["split"] == "train"
    with pytest.raises(LavacutError, match="no-such-net"):
        lavacut.load("no-such-net")


@pytest.mark.slow
def test_evaluate_returns_the_report_with_typed_figures():
    ev = lavacut.evaluate("embedded_dense", samples=40, sweeps=False, progress=False)
    assert isinstance(ev, lavacut.Evaluation) and ev.n_samples == 40 and ev.T == 30 and ev.policy == "topk"
    assert 0.8 <= ev.accuracy_full <= 1 and ev.accuracy_cutoff == ev.report["accuracy_cutoff"]
    assert 1 <= ev.mean_t_cutoff <= 30 and ev.timestep_ratio == pytest.approx(30 / ev.mean_t_cutoff)
    assert ev.ratio_vs_static_truncation == ev.report["ratio_vs_static_truncation"] > 0
    other = lavacut.evaluate("embedded_dense", samples=40, sweeps=False, progress=False, policy="fixed")
    assert other.mean_t_cutoff == 30 and other.accuracy_cutoff == other.accuracy_full == ev.accuracy_full


@pytest.mark.slow
def test_run_and_verify_in_lava():
    out = lavacut.run("embedded_dense", samples=6, progress=False)
    assert isinstance(out, lavacut.RunOutcome) and out.n_samples == 6
    assert np.array_equal(out.cutoff.t_c, [r["t_c"] for r in out.report["per_sample"]])
    assert out.mean_t_cutoff == pytest.approx(float(np.mean(out.cutoff.t_c)))
    assert out.full.horizon == 30 and np.all(out.full.t_c == 30) and out.mean_t_cutoff < 30
    res = lavacut.verify("embedded_dense", samples=3, progress=False)
    assert res.n_samples == 3 and res.n_identical == 3


def test_docs_api_md_is_up_to_date():
    """docs/api.md is generated from the docstrings; regenerate it with
    `python docs/apidoc.py > docs/api.md` after changing them."""
    import runpy
    from pathlib import Path

    docs = Path(__file__).resolve().parents[1] / "docs"
    render = runpy.run_path(str(docs / "apidoc.py"))["render"]
    assert (docs / "api.md").read_text(encoding="utf-8") == render(), (
        "docs/api.md is stale: run `python docs/apidoc.py > docs/api.md`"
    )
