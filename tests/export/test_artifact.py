"""The Export object: the stop rule an export resolves to."""

import numpy as np
import pytest

from lavacut.cutoff.rules import FixedT, TopKGap
from lavacut.util import LavacutError


def test_export_rule_defaults_and_errors(tmp_path):
    from lavacut.export.artifact import Export

    def export(meta):
        return Export(path=tmp_path / "x.net", meta=meta, layers=[])

    assert isinstance(export(None).rule(None, None, 30), FixedT)
    meta = {
        "default_policy": "topk",
        "cutoff": {
            "topk": TopKGap(beta=np.arange(5.0), eps=0.02).params(),
            "confidence": {"policy": "confidence", "eps": 0.02, "temperature": 3.0},
        },
    }
    r = export(meta).rule(None, None, 5)
    assert isinstance(r, TopKGap) and r.beta.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(LavacutError, match="beta has 5 entries"):
        export(meta).rule(None, None, 6)
    with pytest.raises(LavacutError, match="calibrate"):
        export(None).rule("topk", None, 5)
    # a given parameter overrides the stored one; the others stay calibrated
    c = export(meta).rule("confidence", {"eps": 0.1}, 5)
    assert c.eps == 0.1 and c.temperature == 3.0


def test_a_new_target_without_new_thresholds_is_refused(tmp_path):
    from lavacut.export.artifact import Export

    meta = {"default_policy": "topk", "cutoff": {"topk": TopKGap(beta=np.arange(5.0), eps=0.02).params()}}
    export = Export(path=tmp_path / "x.net", meta=meta, layers=[])
    with pytest.raises(LavacutError, match=r"calibrated for eps=0.02; for eps=0.05 run 'lavacut calibrate"):
        export.rule("topk", {"eps": 0.05}, 5)
    assert export.rule("topk", {"eps": 0.02}, 5).beta.tolist() == [0, 1, 2, 3, 4]
    assert export.rule("topk", {"eps": 0.05, "beta": [1.0] * 5}, 5).beta.tolist() == [1.0] * 5


def test_conformal_thresholds_hold_their_alpha_and_decision_steps(tmp_path):
    """The registry's ``calibrated_for``: a new alpha, or new decision steps
    (q is Bonferroni-corrected for them), without new q is refused."""
    from lavacut.cutoff.rules import Conformal
    from lavacut.export.artifact import Export

    cp = Conformal(q=np.full(5, 0.5), alpha=0.1, checkpoints=[3, 5], correction="bonferroni").params()
    export = Export(
        path=tmp_path / "x.net", meta={"default_policy": "conformal", "cutoff": {"conformal": cp}}, layers=[]
    )
    with pytest.raises(
        LavacutError,
        match=r"per-step q is calibrated for alpha=0.1; for alpha=0.05 run "
        r"'lavacut calibrate .*x.net --alpha 0.05'",
    ):
        export.rule("conformal", {"alpha": 0.05}, 5)
    with pytest.raises(LavacutError, match=r"calibrated \(Bonferroni\) for the decision steps \[3, 5\]"):
        export.rule("conformal", {"checkpoints": [5]}, 5)
    assert export.rule("conformal", {"checkpoints": [5], "q": [0.4] * 5}, 5).checkpoints == [5]
    assert export.rule("conformal", {"alpha": 0.1}, 5).q.tolist() == [0.5] * 5


def test_softmax_rules_on_voltages_need_a_temperature(tmp_path):
    """A softmax of raw voltages at temperature 1 is certain at once: on a
    voltage readout (Intel's mnist.net) the rules with a temperature need a
    calibrated one; on spike counts they do not."""
    import sysconfig
    from pathlib import Path

    from lavacut.export.artifact import Export

    mnist = Path(sysconfig.get_paths()["purelib"]) / "tests" / "lava" / "lib" / "dl" / "netx" / "mnist.net"
    voltage = Export.open(mnist)
    assert voltage.readout == "voltage"
    for policy in ("confidence", "entropy"):
        with pytest.raises(LavacutError, match=rf"not calibrated for {policy}: .*--param temperature="):
            voltage.rule(policy, {}, 10)
        assert voltage.rule(policy, {"temperature": 200.0}, 10).temperature == 200.0
    with pytest.raises(LavacutError, match=r"not calibrated for conformal: .*--param q="):
        voltage.rule("conformal", {}, 10)
    with pytest.raises(LavacutError, match=r"not calibrated for conformal: .*--param temperature="):
        voltage.rule("conformal", {"q": [1.0] * 10}, 10)
    counts = Export(path=tmp_path / "x.net", meta=None, layers=[])
    assert counts.rule("confidence", {}, 10).temperature == 1.0
