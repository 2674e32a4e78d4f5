"""``lavacut calibrate`` and ``lavacut evaluate`` on a real quick export:
calibration stored in the file from the training split only, the torch
engine's report, CSV and plots, and the refusals."""

import csv
import json
import shutil

import numpy as np
import pytest
from lavacut_testing import RUN_REPORT_KEYS, quick_export as _quick_export, run_cli as _cli

from lavacut.pipelines.run import RunRequest
from lavacut.train.netspec import NetSpec
from lavacut.train.networks import build_network
from lavacut.util import LavacutError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- calibration refuses the test split


def test_calibrate_export_refuses_the_test_split(tmp_path):
    from lavacut.pipelines.calibrate import calibrate_export

    with pytest.raises(LavacutError, match="test split is not allowed"):
        calibrate_export(RunRequest(tmp_path / "whatever.net", split="test"), progress=False)


def test_cli_calibrate_offers_only_the_train_split(capsys):
    from lavacut.cli import build_parser

    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["calibrate", "x.net", "--split", "test"])
    assert exc.value.code == 2
    assert "invalid choice: 'test'" in capsys.readouterr().err


def test_evaluate_sweeps_refuse_calibrating_on_test(tmp_path):
    import torch

    from lavacut.export.validate import write_export
    from lavacut.pipelines.evaluate import evaluate_export

    spec = NetSpec(kind="dense", input_shape=(2, 34, 34), n_classes=10, hidden=(4,))
    torch.manual_seed(0)
    write_export(build_network(spec), tmp_path / "t.net", {"name": "t", "spec": spec.to_dict()})
    with pytest.raises(LavacutError, match="calib_split is 'test'.*never on the test split"):
        evaluate_export(
            RunRequest(tmp_path / "t.net", overrides=("data.dataset=embedded", "cutoff.calib_split=test")),
            progress=False,
        )


# ---------------------------------------------------------------- slow: the real pipeline


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """A copy of the quick export calibrated with ``lavacut calibrate``
    (recording which splits the calibration loads)."""
    src = _quick_export(tmp_path_factory)
    d = tmp_path_factory.mktemp("calibrated")
    path = d / "quick.net"
    shutil.copyfile(src, path)
    r = _cli("calibrate", path, "--eps", "0.02", "--risk-delta", "0.05")
    return path, r.stdout


@pytest.mark.slow
def test_calibrate_stores_rules_in_the_export(calibrated):
    from lavacut.export.validate import read_metadata

    path, out = calibrated
    meta = read_metadata(path)
    assert meta["default_policy"] == "topk"
    assert {"topk", "confidence", "entropy", "conformal"} <= set(meta["cutoff"])
    T = meta["framing"]["T"]
    assert len(meta["cutoff"]["topk"]["beta"]) == T == 30
    assert len(meta["cutoff"]["conformal"]["q"]) == T
    assert meta["cutoff"]["topk"]["eps"] == 0.02
    assert meta["calibration"]["split"] == "train" and meta["calibration"]["n_samples"] == 1438
    assert "calibrated on 1438 samples of data set embedded (train)" in out
    # the risk-controlled choice is tested on the trainer's validation hold-out (never trained on)
    assert "risk-controlled Top-K" in out and "143 held-out validation samples" in out
    if "topk_risk" in meta["cutoff"]:
        assert len(meta["cutoff"]["topk_risk"]["beta"]) == T
    # the stored temperature is the NLL minimiser on the calibration pass
    assert meta["cutoff"]["confidence"]["temperature"] == meta["cutoff"]["conformal"]["temperature"] > 0


@pytest.mark.slow
def test_calibrate_eps_auto_chooses_on_the_validation_hold_out(tmp_path_factory):
    from lavacut.export.validate import read_metadata

    d = tmp_path_factory.mktemp("eps-auto")
    path = d / "quick.net"
    shutil.copyfile(_quick_export(tmp_path_factory), path)
    r = _cli("calibrate", path, "--eps", "auto", "--max-drop-pp", "1")
    meta = read_metadata(path)
    choice = meta["calibration"]["eps_choice"]
    assert choice["n_holdout"] == 143 and choice["max_drop_pp"] == 1.0
    ok = [row for row in choice["table"] if row["within_budget"]]
    assert all(row["within_budget"] == (row["drop_pp"] <= 1.0) for row in choice["table"])
    want = min(ok, key=lambda row: row["mean_t"])["eps"] if ok else None
    assert meta["cutoff"]["topk"]["eps"] == meta["calibration"]["eps"] == choice["eps"]
    if want is not None:
        assert choice["eps"] == want
    assert f"topk: eps {choice['eps']:g} chosen on 143 held-out validation samples" in r.stdout
    bad = _cli("calibrate", path, "--eps", "sometimes", check=False)
    assert bad.returncode == 2 and "--eps" in bad.stderr


@pytest.mark.slow
def test_calibration_loads_only_the_training_split(tmp_path_factory, monkeypatch):
    import lavacut.export.artifact as artifact
    from lavacut.export.validate import read_metadata
    from lavacut.pipelines.calibrate import calibrate_export

    path = tmp_path_factory.mktemp("calib-spy") / "q.net"
    shutil.copyfile(_quick_export(tmp_path_factory), path)
    seen = []
    real = artifact.load_split

    def spy(cfg, split, progress=True):
        seen.append(split)
        return real(cfg, split, progress=progress)

    monkeypatch.setattr(artifact, "load_split", spy)
    lines = calibrate_export(RunRequest(path), eps=0.05, progress=False)
    assert seen == ["train"]
    assert read_metadata(path)["cutoff"]["topk"]["eps"] == 0.05
    assert any("stored in" in line for line in lines)


@pytest.mark.slow
def test_evaluate_uses_the_stored_calibration_and_writes_the_report(calibrated, tmp_path):
    from lavacut.export.validate import read_metadata

    path, _ = calibrated
    meta = read_metadata(path)
    report = tmp_path / "rep" / "quick.json"
    r = _cli("evaluate", path, "--engine", "torch", "--report", report)
    assert "policy topk (torch engine)" in r.stdout
    rep = json.loads(report.read_text())
    assert RUN_REPORT_KEYS <= set(rep), RUN_REPORT_KEYS - set(rep)
    assert rep["engine"] == "torch" and rep["backend"] == "torch-cpu" and rep["split"] == "test"
    assert rep["n_samples"] == 359 and rep["T"] == 30
    # the stored calibration, used without flags
    assert rep["policy"] == "topk"
    assert rep["policy_params"]["beta"] == pytest.approx(meta["cutoff"]["topk"]["beta"])
    assert rep["content_sha256"] == meta["content_sha256"]
    # the same SLAYER net on the same test split as at export time
    assert rep["accuracy_full"] == pytest.approx(meta["accuracy"]["test_full_T_slayer"])
    assert rep["accuracy_full"] > 0.3
    assert 1 <= rep["mean_t_cutoff"] <= 30 and rep["timestep_ratio"] == pytest.approx(30 / rep["mean_t_cutoff"])
    assert rep["mean_oct"] <= 30 and rep["static_truncation"]["T_prime"] <= 30
    assert rep["sweep_calibration"]["split"] == "train"
    assert set(rep["sweeps"]) == {"topk", "confidence", "entropy", "conformal", "fixed"}
    assert rep["operations"]["synops_full_mean"] >= rep["operations"]["synops_cutoff_mean"] > 0
    assert rep["versions"]["lava-dl"] == "0.6.0"
    # per-sample CSV agrees with the report
    with open(report.with_suffix(".samples.csv")) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 359
    t_c = np.array([int(row["t_c"]) for row in rows])
    assert t_c.mean() == pytest.approx(rep["mean_t_cutoff"])
    assert [int(row["t_c"]) for row in rows] == [r["t_c"] for r in rep["per_sample"]]
    acc = np.mean([row["pred"] == row["label"] for row in rows])
    assert acc == pytest.approx(rep["accuracy_cutoff"])
    for png in ("quick_tradeoff.png", "quick_tcutoff.png"):
        assert (report.parent / png).read_bytes()[:8] == PNG_MAGIC


@pytest.mark.slow
def test_evaluate_explicit_policy_overrides_the_stored_default(calibrated, tmp_path):
    from lavacut.pipelines.evaluate import evaluate_export

    path, _ = calibrated
    rep = evaluate_export(
        RunRequest(path, samples=50), policy="fixed", params={"t_stop": 12}, progress=False, with_sweeps=False
    )
    assert rep["policy"] == "fixed" and rep["n_samples"] == 50
    assert [r["t_c"] for r in rep["per_sample"]] == [12] * 50 and rep["mean_t_cutoff"] == 12
    assert rep["accuracy_cutoff"] == pytest.approx(rep["fixed_T_curve"][11]["accuracy"])


@pytest.mark.slow
def test_evaluate_and_calibrate_refuse_frames_of_another_shape(calibrated):
    from lavacut.pipelines.calibrate import calibrate_export
    from lavacut.pipelines.evaluate import evaluate_export

    path, _ = calibrated
    req = RunRequest(path, overrides=("framing.downsample=0.5",))
    with pytest.raises(
        LavacutError,
        match=r"frames of shape \(2, 17, 17\) per step do not match the network "
        r"input \(2, 34, 34\)",
    ):
        evaluate_export(req, progress=False)
    with pytest.raises(LavacutError, match=r"\(2, 17, 17\)"):
        calibrate_export(req, progress=False)


# ---------------------------------------------------------------- synaptic operations, recounted by hand


def _file_fan_outs(path):
    """Per weighted layer of a NetX file, the nonzero weights leaving each
    input, counted from the file's weights with plain loops over output
    positions and kernel taps (conv) or columns (dense)."""
    import h5py

    out, shape = [], None
    with h5py.File(path, "r") as f:
        for k in sorted((k for k in f["layer"] if k.isdigit()), key=int):
            g = f["layer"][k]
            kind = g["type"][()][0].decode()
            if kind == "input":
                shape = tuple(int(v) for v in g["shape"][()])
            elif kind == "dense":
                w = np.asarray(g["weight"][()])
                out.append((w != 0).sum(axis=0).astype(float))
            elif kind == "conv":
                w = np.asarray(g["weight"][()])
                (ci, hi, wi), (co, ho, wo) = shape, tuple(int(v) for v in g["shape"][()])
                (sy, sx), (py, px) = g["stride"][()], g["padding"][()]
                assert int(np.asarray(g["groups"][()])) == 1 and tuple(g["dilation"][()]) == (1, 1)
                fan = np.zeros((ci, hi, wi))
                for oy in range(ho):
                    for ox in range(wo):
                        for ky in range(w.shape[2]):
                            for kx in range(w.shape[3]):
                                iy, ix = oy * sy - py + ky, ox * sx - px + kx
                                if 0 <= iy < hi and 0 <= ix < wi:
                                    fan[:, iy, ix] += (w[:, :, ky, kx] != 0).sum(axis=0)
                out.append(fan.reshape(-1))
                shape = (co, ho, wo)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["embedded_dense", "embedded_conv"])
def test_evaluate_synops_are_the_nonzero_weights_recounted_by_hand(name):
    """The report's synaptic operations: every spike each layer receives up
    to t_c (the frame, then the previous layer's spikes) times the nonzero
    weights of the exported file leaving that input."""
    from pathlib import Path

    from lavacut.cutoff.synops import E_NEURON_SPIKE_PJ, E_NEURON_UPDATE_PJ, E_SYNOP_PJ
    from lavacut.pipelines.evaluate import evaluate_export
    from lavacut.pipelines.run import open_run
    from lavacut.train.inference import forward

    path = Path(__file__).resolve().parents[2] / "netx_exports" / f"{name}.net"
    req = RunRequest(path, split="test", samples=12)
    rep = evaluate_export(req, progress=False, with_sweeps=False, neurobench=False)
    export, cfg, split, samples = open_run(req)
    frames = export.frames(cfg, split, samples, progress=False).frames
    out, hidden = forward(export.slayer_net(), frames, record=True, readout=False)
    t_c = np.array([r["t_c"] for r in rep["per_sample"]])
    T = frames.shape[-1]
    fans = _file_fan_outs(path)
    inputs = [frames.reshape(len(frames), -1, T)] + hidden
    assert [len(f) for f in fans] == [x.shape[1] for x in inputs]
    syn = {"full": [], "cutoff": []}
    for i, tc in enumerate(t_c):
        for part, upto in (("full", T), ("cutoff", tc)):
            syn[part].append(sum(float(x[i, :, :upto].sum(axis=-1) @ f) for x, f in zip(inputs, fans)))
    ops = rep["operations"]
    assert ops["synops_full_mean"] == pytest.approx(np.mean(syn["full"]), rel=1e-12)
    assert ops["synops_cutoff_mean"] == pytest.approx(np.mean(syn["cutoff"]), rel=1e-12)
    # the energy's synaptic term is these operations
    spikes = [np.mean([s[i, :, :tc].sum() for i, tc in enumerate(t_c)]) for s in hidden + [out]]
    n = sum(s.shape[1] for s in hidden + [out])
    e = (
        np.mean(syn["cutoff"]) * E_SYNOP_PJ
        + (n * t_c.mean() - sum(spikes)) * E_NEURON_UPDATE_PJ
        + sum(spikes) * E_NEURON_SPIKE_PJ
    ) * 1e-6
    assert ops["energy_uj_cutoff_mean"] == pytest.approx(e, rel=1e-9)
