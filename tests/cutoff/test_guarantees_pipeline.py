"""Slow: ``lavacut calibrate`` stores the Bonferroni-corrected SpikeCP rule
(its decision steps, correction and hold-out size) and the risk-controlled
choice's delta and confidence in the export, and ``lavacut evaluate``
reports every calibrated rule's target against what it achieved, with
Clopper-Pearson intervals, in the JSON report and on the trade-off plot."""

import json
import shutil

import pytest
from lavacut_testing import quick_export as _quick_export, run_cli as _cli

from lavacut.cutoff.binomial import clopper_pearson


@pytest.mark.slow
def test_calibrate_and_evaluate_report_targets_and_achievements(tmp_path_factory, tmp_path):
    from lavacut.export.validate import read_metadata
    from lavacut.export.artifact import Export

    path = tmp_path / "quick.net"
    shutil.copyfile(_quick_export(tmp_path_factory), path)
    out = _cli("calibrate", path, "--alpha", "0.05", "--risk-delta", "0.05").stdout
    assert "conformal: thresholds from 143 held-out validation samples (eval mode), Bonferroni over" in out
    meta = read_metadata(path)
    cp = meta["cutoff"]["conformal"]
    assert cp["correction"] == "bonferroni" and cp["n_calibration"] == 143 and cp["alpha"] == 0.05
    assert cp["checkpoints"][-1] == 30 and len(cp["checkpoints"]) <= 7  # alpha / |C| >= 1 / (n + 1)
    assert meta["calibration"]["n_conformal"] == 143
    if "topk_risk" in meta["cutoff"]:
        assert meta["cutoff"]["topk_risk"]["delta"] == 0.05 and meta["cutoff"]["topk_risk"]["confidence"] == 0.9
    # a changed set of decision steps without new thresholds would void the guarantee
    from lavacut.util import LavacutError

    with pytest.raises(LavacutError, match="calibrated \\(Bonferroni\\) for the decision steps"):
        Export.open(path).rule("conformal", {"checkpoints": [30]}, 30)

    report = tmp_path / "rep" / "q.json"
    _cli("evaluate", path, "--engine", "torch", "--report", report)
    rep = json.loads(report.read_text())
    by_rule = {g["rule"]: g for g in rep["guarantees"]}
    assert {"topk", "conformal"} <= set(by_rule) and "confidence" not in by_rule
    assert set(by_rule) - {"topk", "conformal"} <= {"topk_risk"}
    g = by_rule["conformal"]
    assert g["target"]["min"] == pytest.approx(0.95) and g["target"]["checkpoints"] == cp["checkpoints"]
    a = g["achieved"]
    assert a["n"] == rep["n_samples"] == 359 and a["ci"] == pytest.approx(list(clopper_pearson(a["k"], a["n"])))
    assert g["met"] == (a["rate"] >= 0.95)
    assert by_rule["topk"]["target"]["eps"] == 0.02
    assert by_rule["topk"]["accuracy_cutoff"] == pytest.approx(rep["accuracy_cutoff"])  # the default rule
    assert by_rule["topk"]["mean_t_cutoff"] == pytest.approx(rep["mean_t_cutoff"])
    assert (report.parent / "q_tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
