"""``lavacut check``: the Loihi 2 design-rule check and core map.

Each rule is broken by a small NetX file written with h5py, and must be
caught with its rule named; the shipped exports pass with a core map."""

import json
from pathlib import Path

import numpy as np
import pytest

from lavacut.cli import main
from lavacut.export.loihi2 import check as loihi2_check
from lavacut.export.loihi2 import figures
from lavacut.export.loihi2 import rules as loihi2_rules
from lavacut.export.loihi2.check import check_loihi2
from lavacut.export.loihi2.rules import netx_weight_format
from lavacut.pipelines.check import check_export, export_warnings, write_report
from lavacut_testing import write_netx

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "netx_exports").glob("*.net"))
CUBA = {"type": b"CUBA", "iDecay": 1024, "vDecay": 123, "vThMant": 80, "refDelay": 1, "gradedSpike": False}


def _net(path, layers):
    """A NetX file: ``layers``, each a dict of datasets ('neuron' a dict too,
    default CUBA for layers with weights)."""
    return write_netx(
        path, [{**spec, "neuron": CUBA} if "weight" in spec and "neuron" not in spec else spec for spec in layers]
    )


def _inp(*shape):
    return {"type": "input", "shape": np.array(shape)}


def _dense(w, **kw):
    w = np.asarray(w, dtype=np.float32)
    return {
        "type": "dense",
        "shape": np.array([w.shape[0]]),
        "inFeatures": w.shape[1],
        "outFeatures": w.shape[0],
        "weight": w,
        **kw,
    }


def _w(n_out, n_in, lo=-8, hi=8, seed=0):
    return (np.random.default_rng(seed).integers(lo // 2, hi // 2 + 1, (n_out, n_in)) * 2).astype(np.float32)


def _ok_net(tmp_path, name="ok.net", **dense_kw):
    return _net(tmp_path / name, [_inp(20), _dense(_w(8, 20), **dense_kw), _dense(_w(3, 8, seed=1))])


def _rules(rep, severity=None, layer=None):
    return {
        p.rule
        for p in rep.problems
        if (severity is None or p.severity == severity) and (layer is None or p.layer == layer)
    }


# --------------------------------------------------------------------------- shipped exports
@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_exports_pass_with_a_core_map(path, tmp_path):
    rep, (js, png) = check_export(path, report=tmp_path / "check.json")
    assert rep.ok and not rep.errors, rep.format()
    d = json.loads(js.read_text())
    assert {"cores", "layers", "assumptions", "totals", "problems"} <= set(d)
    spiking = [L for L in d["layers"] if L["neurons"]]
    assert spiking and all(L["cores"] >= 1 and L["binding"] for L in spiking)
    assert len(d["cores"]) == sum(L["cores"] for L in spiking) == d["totals"]["cores"]
    for c in d["cores"]:
        assert set(figures.RESOURCES) <= set(c) and all(0 <= u <= 1 for u in c["use"].values())
    assert sum(c["neurons_per_core"] for c in d["cores"]) == d["totals"]["neurons"]
    assert png.is_file() and png.stat().st_size > 5000
    assert all(a["figure"] and a["assumption"] for a in d["assumptions"])


def test_cli_check_exit_codes(tmp_path, capsys):
    good = _ok_net(tmp_path)
    assert main(["check", str(good), "--report", str(tmp_path / "r" / "good.json")]) == 0
    assert (tmp_path / "r" / "good.json").is_file() and (tmp_path / "r" / "good.png").is_file()
    bad = _net(tmp_path / "bad.net", [_inp(20), _dense(_w(8, 20), delay=np.full(8, 70.0))])
    assert main(["check", str(bad), "--target", "loihi2"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "error [delay] layer 1" in out


def test_export_warnings_name_each_problem(tmp_path):
    bad = _net(tmp_path / "bad.net", [_inp(20), _dense(_w(8, 20), delay=np.full(8, 70.0))])
    lines = export_warnings(bad)
    assert any(line.startswith("warning: Loihi 2 design rule delay (error): layer 1") for line in lines)
    assert "FAIL" in lines[-1]
    assert export_warnings(_ok_net(tmp_path))[-1].startswith("Loihi 2 check: pass, 2 cores")


# --------------------------------------------------------------------------- parameter rules
def test_good_net_has_no_problems(tmp_path):
    rep = check_loihi2(_ok_net(tmp_path))
    assert rep.ok and rep.problems == [], rep.format()
    assert [L["cores"] for L in rep.layers] == [0, 1, 1]
    assert rep.layers[1]["binding"] == "none (fits one core)"


def test_weight_integer(tmp_path):
    w = _w(8, 20)
    w[0, 0] = 1.5
    rep = check_loihi2(_net(tmp_path / "a.net", [_inp(20), _dense(w)]))
    assert "weight_integer" in _rules(rep, "error", "1") and not rep.ok


@pytest.mark.parametrize("lo,hi", [(-10, 300), (-300, 10), (0, 256)])
def test_weight_precision_range(tmp_path, lo, hi):
    w = _w(8, 20)
    w[0, 0], w[0, 1] = lo, hi
    rep = check_loihi2(_net(tmp_path / "a.net", [_inp(20), _dense(w)]))
    assert "weight_precision" in _rules(rep, "error", "1"), rep.format()


def test_weight_precision_bits(tmp_path):
    # odd mixed-sign weights up to 253: netx needs 9 bits to keep the last bit
    w = np.zeros((4, 20), np.float32)
    w[0, 0], w[1, 1], w[2, 2] = 253, -3, 1
    assert netx_weight_format(w)[0] == 9
    rep = check_loihi2(_net(tmp_path / "a.net", [_inp(20), _dense(w)]))
    assert "weight_precision" in _rules(rep, "error", "1")


def test_netx_weight_format_matches_lava_dl():
    from lava.lib.dl.netx.utils import optimize_weight_bits

    rng = np.random.default_rng(3)
    for lo, hi, step in [(-256, 254, 2), (-8, 8, 2), (0, 255, 1), (-256, 0, 1), (-5, 7, 1), (0, 12, 4)]:
        w = (rng.integers(lo // step, hi // step + 1, (6, 9)) * step).astype(np.float64)
        _, bits, exp, _ = optimize_weight_bits(w.copy())
        assert netx_weight_format(w)[:2] == (bits, exp), (lo, hi, step)


def test_weight_exponent(tmp_path, monkeypatch):
    # with 8-bit integer weights netx's exponent stays in -8..0; the range is
    # an assumption, so the rule is exercised with a narrower one
    monkeypatch.setattr(loihi2_rules, "WEIGHT_EXP_RANGE", (-4, 7))
    w = np.zeros((4, 20), np.float32)
    w[0, 0], w[1, 1] = 2, -2  # mixed: scale 63.5 -> exponent -6
    assert netx_weight_format(w)[1] == -6
    rep = check_loihi2(_net(tmp_path / "a.net", [_inp(20), _dense(w)]))
    assert "weight_exponent" in _rules(rep, "error", "1")


def test_threshold(tmp_path):
    # (1 << 17 exactly on the last layer marks netx's voltage readout: a warning, tested in test_validate)
    rep = check_loihi2(
        _net(tmp_path / "a.net", [_inp(20), _dense(_w(8, 20), neuron={**CUBA, "vThMant": (1 << 17) + 1})])
    )
    assert "threshold" in _rules(rep, "error", "1")
    rep = check_loihi2(_net(tmp_path / "b.net", [_inp(20), _dense(_w(8, 20), neuron={**CUBA, "vThMant": 125000})]))
    assert "threshold" in _rules(rep, "warning", "1") and rep.ok


@pytest.mark.parametrize("key,value", [("iDecay", 5000), ("vDecay", -1), ("vDecay", 100.5)])
def test_decay(tmp_path, key, value):
    rep = check_loihi2(_net(tmp_path / "a.net", [_inp(20), _dense(_w(8, 20), neuron={**CUBA, key: value})]))
    assert "decay" in _rules(rep, "error", "1")


def test_bias(tmp_path):
    rep = check_loihi2(_ok_net(tmp_path, bias=np.full(8, 5000.0)))
    assert "bias" in _rules(rep, "error", "1")
    rep = check_loihi2(_ok_net(tmp_path, "b.net", bias=np.full(8, -4000.0)))
    assert "bias" in _rules(rep, "warning", "1") and rep.ok


def test_delay(tmp_path):
    assert "delay" in _rules(check_loihi2(_ok_net(tmp_path, delay=np.full(8, 63.0))), "error", "1")
    assert "delay" in _rules(check_loihi2(_ok_net(tmp_path, "b.net", delay=np.full(8, 2.5))), "error", "1")
    rep = check_loihi2(_ok_net(tmp_path, "c.net", delay=np.full(8, 60.0)))
    assert "delay" in _rules(rep, "warning", "1") and rep.ok


def test_fan_in(tmp_path):
    # 200 inputs of weight 254 all spiking: 50,800 > the int16 a_in
    rep = check_loihi2(_net(tmp_path / "a.net", [_inp(200), _dense(np.full((4, 200), 254.0))]))
    p = [p for p in rep.problems if p.rule == "fan_in"]
    assert p and p[0].value == 50800 and p[0].limit == 32767


def test_layer_type(tmp_path):
    rep = check_loihi2(
        _net(tmp_path / "a.net", [_inp(20), _dense(_w(8, 20)), {"type": "pool", "shape": np.array([4])}])
    )
    assert "layer_type" in _rules(rep, "error", "2")


# --------------------------------------------------------------------------- per-core resources
def _wide(n=20000):
    # n neurons of which only the first 100 feed the next layer (an output
    # axon per (neuron, destination core) would bind first otherwise)
    w2 = np.zeros((3, n), np.float32)
    w2[:, :100] = 2
    return [_inp(2), _dense(_w(n, 2, 2, 4)), _dense(w2)]


def test_neurons_per_core_binds(tmp_path):
    rep = check_loihi2(_net(tmp_path / "a.net", _wide()))
    L = rep.layers[1]
    assert L["cores"] == 3 and L["binding"] == "neurons_per_core" and rep.ok, rep.format()
    assert sum(c["neurons_per_core"] for c in rep.cores if c["layer"] == "1") == 20000


def test_neurons_per_core_violated(tmp_path):
    # a conv position keeps all its channels on one core: 9000 channels cannot fit
    w = np.full((9000, 1, 1, 1), 2.0, np.float32)
    conv = {
        "type": "conv",
        "shape": np.array([9000, 1, 1]),
        "weight": w,
        "stride": np.array([1, 1]),
        "padding": np.array([0, 0]),
        "dilation": np.array([1, 1]),
        "groups": 1,
    }
    rep = check_loihi2(_net(tmp_path / "a.net", [_inp(1, 1, 1), conv]))
    assert "neurons_per_core" in _rules(rep, "error", "1")


def test_synaptic_memory_binds(tmp_path):
    # 3000 x 400 8-bit weights (|w| up to 254): ~1.2 MB -> about 11 cores kept
    # below 90 % of 128 KiB
    w = _w(400, 3000, -254, 254)
    rep = check_loihi2(_net(tmp_path / "a.net", [_inp(3000), _dense(w)]))
    L = rep.layers[1]
    assert L["storage_bits"] == 8
    need = np.count_nonzero(w) * L["storage_bits"] / 8 / (figures.NEAR * figures.SYN_MEM_BYTES_PER_CORE)
    assert L["binding"] == "synaptic_memory_per_core" and L["cores"] in (int(np.ceil(need)), int(np.ceil(need)) + 1)
    assert rep.ok


def test_synaptic_memory_violated(tmp_path):
    # one neuron with 140,000 8-bit synapses cannot fit 128 KiB
    w = _w(1, 140000, -254, 254)
    w[w == 0] = 2
    rep = check_loihi2(_net(tmp_path / "a.net", [_inp(140000), _dense(w)]))
    assert {"synaptic_memory_per_core", "axons_in_per_core"} <= _rules(rep, "error", "1")


def test_axons_in_violated(tmp_path):
    rep = check_loihi2(_net(tmp_path / "a.net", [_inp(5000), _dense(_w(10, 5000, 2, 4))]))
    p = [p for p in rep.errors if p.rule == "axons_in_per_core"]
    assert p and p[0].layer == "1" and p[0].value == 5000


def test_axons_out_binds(tmp_path):
    # layer 1 (3000 neurons) feeds every core of layer 2 (cut by memory):
    # 3000 x (layer 2's cores) output axons, below 90 % of 4096 per core
    w2 = _w(600, 3000, 2, 254)
    rep = check_loihi2(_net(tmp_path / "a.net", [_inp(4), _dense(_w(3000, 4, 2, 4)), _dense(w2)]))
    l1, l2 = rep.layers[1], rep.layers[2]
    assert l2["binding"] == "synaptic_memory_per_core"
    assert l1["binding"] == "axons_out_per_core"
    assert l1["cores"] == int(np.ceil(3000 * l2["cores"] / (figures.NEAR * figures.AXONS_OUT_PER_CORE)))
    assert rep.ok


def test_conv_core_map_sees_only_its_window(tmp_path):
    # 16x34x34 input (18,496 neurons), 3x3 conv, padding 1: a core holding a
    # run of output positions reads their 3x3 windows over all 16 channels
    # (16 x 34 = 544 inputs per whole row). Cores are sized to stay below 90 %
    # of 4,096 (3,686): 1,156 positions on 8 cores (runs of ~144.5 positions,
    # 4.25 rows) read at most 3,440 inputs each; 7 cores (165 positions) do not fit
    w = _w(8, 16 * 9, 2, 4).reshape(8, 16, 3, 3)
    conv = {
        "type": "conv",
        "shape": np.array([8, 34, 34]),
        "weight": w,
        "stride": np.array([1, 1]),
        "padding": np.array([1, 1]),
        "dilation": np.array([1, 1]),
        "groups": 1,
    }
    rep = check_loihi2(_net(tmp_path / "a.net", [_inp(16, 34, 34), conv]))
    L = rep.layers[1]
    assert L["binding"] == "axons_in_per_core" and L["cores"] == 8
    assert max(c["axons_in_per_core"] for c in rep.cores) <= 4096
    assert rep.ok


# --------------------------------------------------------------------------- chips
def test_cores_and_chips(tmp_path, monkeypatch):
    monkeypatch.setattr(loihi2_check, "CORES_PER_CHIP", 2)
    rep = check_loihi2(_net(tmp_path / "a.net", _wide()))
    assert rep.totals["cores"] == 4 and rep.totals["chips"] == 2 and rep.cores[-1]["chip"] == 1
    assert "cores_per_chip" in _rules(rep, "warning")
    monkeypatch.setattr(loihi2_check, "NEURONS_PER_CHIP", 1000)
    monkeypatch.setattr(loihi2_check, "SYNAPSES_PER_CHIP", 1000)
    rep = check_loihi2(_net(tmp_path / "a.net", _wide()))
    assert {"neurons_per_chip", "synapses_per_chip"} <= _rules(rep, "error")


def test_report_round_trips(tmp_path):
    rep = check_loihi2(_ok_net(tmp_path, bias=np.full(8, 5000.0)))
    js, png = write_report(rep, tmp_path / "r.json")
    d = json.loads(js.read_text())
    assert d["ok"] is False and d["errors"] == 1 and d["problems"][0]["rule"] == "bias"
    assert png.is_file()


@pytest.mark.slow
def test_export_runs_the_check(tmp_path_factory):
    from lavacut_testing import quick_export

    net = quick_export(tmp_path_factory)
    log = (net.parent.parent / "quick-export.log").read_text()
    assert "Loihi 2 check: pass" in log and f"lavacut check {net}" in log
