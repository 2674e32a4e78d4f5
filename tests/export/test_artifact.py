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
    meta = {"default_policy": "topk", "cutoff": {"topk": TopKGap(beta=np.arange(5.0), eps=0.02).params(),
                                                 "confidence": {"policy": "confidence", "eps": 0.02,
                                                                "temperature": 3.0}}}
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
