"""Train stage: real SLAYER training of sims/quick.toml through the CLI,
checkpoints (safe loading), exact resume, divergence handling and config /
architecture / input-shape errors.

Slow tests share two training runs made once per session through the CLI:
the 2-epoch quick run (also used by test_export / test_measure) and a 1-epoch
run that the resume and NaN tests continue from (on copies).
"""

import json
import pathlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from lavacut_testing import quick_run as _quick_run, run_cli as _cli
import torch

from lavacut.train.checkpoint import check_same_architecture, load_checkpoint, save_checkpoint
from lavacut.train.netspec import NetSpec
from lavacut.train.inference import accuracy_from_spikes
from lavacut.train.trainer import NaNLossError, epoch_lr, stratified_holdout, train
from lavacut.util import LavacutError

REPO = Path(__file__).resolve().parents[2]
QUICK = REPO / "sims" / "quick.toml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    return _quick_run(tmp_path_factory)


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory):
    """quick.toml trained for 1 epoch (CLI); tests continue from copies."""
    run = tmp_path_factory.getbasetemp() / "one-epoch-run"
    if not (run / "metrics.json").is_file():
        _cli("train", "-c", QUICK, "--set", "train.epochs=1", "--out", run)
    return run


def _copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _quick_cfg(*overrides):
    from lavacut.config import load_config

    return load_config(QUICK, list(overrides))


# ------------------------------------------------------------------ fast: helpers and checkpoints


def test_epoch_lr_schedules():
    const = _quick_cfg("optim.lr=0.01", "train.epochs=4")
    assert [epoch_lr(const, e) for e in (1, 2, 3, 4)] == [0.01] * 4
    cos = _quick_cfg("optim.lr=0.01", "train.epochs=4", "optim.schedule=cosine")
    got = [epoch_lr(cos, e) for e in (1, 2, 3, 4)]
    assert got[0] == 0.01 and got == sorted(got, reverse=True)
    assert got[2] == pytest.approx(0.005) and got[3] == pytest.approx(0.01 * (1 - 0.5**0.5) / 2)
    with pytest.raises(LavacutError, match="optim.schedule"):
        _quick_cfg("optim.schedule=step")
    with pytest.raises(LavacutError, match="train.shift_px"):
        _quick_cfg("train.shift_px=-1")


def test_accuracy_from_spikes_ties_and_silence():
    sp = np.zeros((4, 3, 5), np.uint8)
    sp[0, 2, :3] = 1  # class 2
    sp[1, 0, :2] = 1  # tie 0 / 1 -> 0
    sp[1, 1, 3:] = 1
    sp[3, 1, 0] = 1  # class 1; sample 2 silent -> no decision (-1)
    assert accuracy_from_spikes(sp, np.array([2, 0, 0, 1])) == 0.75
    assert np.isnan(accuracy_from_spikes(sp[:0], np.array([], dtype=np.int64)))


def test_stratified_holdout_is_seeded_and_per_class():
    labels = np.repeat(np.arange(4), [10, 20, 30, 5])
    m = stratified_holdout(labels, 0.1, seed=3)
    assert [int(m[labels == c].sum()) for c in range(4)] == [1, 2, 3, 1]  # round(f n), at least 1
    assert np.array_equal(m, stratified_holdout(labels, 0.1, seed=3))
    assert not np.array_equal(m, stratified_holdout(labels, 0.1, seed=4))
    assert not stratified_holdout(labels, 0.0, seed=3).any()


class _Payload:
    """Unpickling this runs ``Path.touch(marker)``: an arbitrary call."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_load_checkpoint_refuses_pickled_objects(tmp_path):
    marker = tmp_path / "code-ran"
    bad = tmp_path / "evil.pt"
    torch.save({"model": {}, "spec": {}, "payload": _Payload(marker)}, bad)
    with pytest.raises(
        LavacutError,
        match=r"evil.pt cannot be read as a lavacut checkpoint "
        r"\(torch.load with weights_only=True failed",
    ):
        load_checkpoint(bad)
    assert not marker.exists()
    # the payload is real: an unrestricted load would have run it
    torch.load(bad, weights_only=False)
    assert marker.exists()


def test_load_checkpoint_other_errors(tmp_path):
    with pytest.raises(LavacutError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(LavacutError, match="cannot be read as a lavacut checkpoint"):
        load_checkpoint(tmp_path / "text.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(LavacutError, match="not a lavacut checkpoint \\(no model/spec entries\\)"):
        load_checkpoint(tmp_path / "other.pt")


def test_save_checkpoint_round_trip_is_weights_only(tmp_path):
    spec = NetSpec(kind="dense", input_shape=(1, 2, 2), n_classes=2, hidden=(3,))
    state = {
        "model": {"w": torch.arange(4.0)},
        "spec": spec.to_dict(),
        "epoch": 3,
        "history": [{"epoch": 1}],
        "torch_rng": torch.get_rng_state(),
    }
    save_checkpoint(tmp_path / "c.pt", state)
    raw = torch.load(tmp_path / "c.pt", weights_only=True)
    assert raw["format"] == 1 and raw["epoch"] == 3 and torch.equal(raw["model"]["w"], torch.arange(4.0))
    assert load_checkpoint(tmp_path / "c.pt")["spec"] == spec.to_dict()
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left


def test_check_same_architecture_names_the_fields():
    a = NetSpec(kind="dense", input_shape=(2, 34, 34), n_classes=10, hidden=(64,))
    check_same_architecture({"spec": a.to_dict()}, a.replace(dropout=0.3, name="other"))  # training knobs ok
    with pytest.raises(LavacutError, match=r"another architecture:\n  hidden: checkpoint \[64\] vs config \[32\]"):
        check_same_architecture({"spec": a.to_dict()}, a.replace(hidden=(32,)), "last.pt")
    with pytest.raises(LavacutError, match="weight_norm: checkpoint True vs config False"):
        check_same_architecture({"spec": a.to_dict()}, a.replace(weight_norm=False))
    with pytest.raises(LavacutError, match="threshold: checkpoint 1.25 vs config 1.5"):
        check_same_architecture({"spec": a.to_dict()}, a.replace(threshold=1.5))


# ------------------------------------------------------------------ fast: bad configs through the CLI


def _main(argv, capsys):
    from lavacut.cli import main

    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr()


def test_cli_train_unknown_key_and_section(tmp_path, capsys):
    rc, out = _main(["train", "-c", QUICK, "--set", "train.epochz=3", "--out", tmp_path / "r"], capsys)
    assert rc == 2
    assert "no key 'epochz' in train" in out.err and "epochs" in out.err  # lists the valid keys
    rc, out = _main(["train", "-c", QUICK, "--set", "nett.hidden=[3]", "--out", tmp_path / "r"], capsys)
    assert rc == 2 and "no config section 'nett'" in out.err
    toml = tmp_path / "bad.toml"
    toml.write_text(QUICK.read_text().replace("[net]\n", "[net]\nwidths = [3]\n"))
    rc, out = _main(["train", "-c", toml, "--out", tmp_path / "r"], capsys)
    assert rc == 2 and f"{toml}: [net]: unknown key(s) widths" in out.err
    assert not (tmp_path / "r").exists()


def test_cli_train_wrong_types(tmp_path, capsys):
    rc, out = _main(["train", "-c", QUICK, "--set", "train.epochs=1.5", "--out", tmp_path / "r"], capsys)
    assert rc == 2 and "train.epochs must be an integer, got 1.5" in out.err
    rc, out = _main(["train", "-c", QUICK, "--set", "rcs.enabled=yes", "--out", tmp_path / "r"], capsys)
    assert rc == 2 and "rcs.enabled must be true or false, got 'yes'" in out.err
    toml = tmp_path / "bad.toml"
    toml.write_text(QUICK.read_text().replace("hidden = [64]", 'hidden = "64"'))
    rc, out = _main(["train", "-c", toml, "--out", tmp_path / "r"], capsys)
    assert rc == 2 and "net.hidden must be a list, got '64'" in out.err
    rc, out = _main(["train", "-c", tmp_path / "nope.toml"], capsys)
    assert rc == 2 and "nope.toml does not exist" in out.err


# ------------------------------------------------------------------ slow: real training


@pytest.mark.slow
def test_quick_training_end_to_end_via_cli(quick_run, tmp_path_factory):
    for name in ("best.pt", "last.pt", "metrics.json", "training_curve.png"):
        assert (quick_run / name).is_file(), name
    assert not [p.name for p in quick_run.iterdir() if p.name.startswith(".")]  # no temporary files
    assert (quick_run / "training_curve.png").read_bytes()[:8] == PNG_MAGIC
    m = json.loads((quick_run / "metrics.json").read_text())
    assert m["name"] == "quick" and m["epochs"] == 2
    assert [h["epoch"] for h in m["history"]] == [1, 2]
    assert m["n_train"] == 480  # train.max_train_samples
    from lavacut.data.sources import load_split

    labels = load_split(_quick_cfg(), "train", progress=False).labels
    assert len(labels) == 1438 and m["n_test"] == 359
    assert m["n_val"] == sum(max(1, round(0.1 * c)) for c in np.bincount(labels))  # stratified 10 %
    assert m["config"]["net"]["hidden"] == [64] and m["config"]["loss"]["name"] == "tet"
    # 10 classes: chance is 0.1
    assert m["test_acc_full_T"] > 0.4 and m["best_val_acc"] > 0.4
    assert m["history"][-1]["train_acc"] > m["history"][0]["train_acc"] * 0.9
    assert all(np.isfinite(h["loss"]) for h in m["history"])
    log = quick_run.parent / "quick-run.log"  # beside the run (lavacut_testing.quick_run)
    assert f"test accuracy at full T {m['test_acc_full_T']:.4f}" in log.read_text()
    best = load_checkpoint(quick_run / "best.pt")
    last = load_checkpoint(quick_run / "last.pt")
    assert last["epoch"] == 2 and best["epoch"] == m["best_epoch"]
    assert best["best_val_acc"] == pytest.approx(m["best_val_acc"])
    assert best["sensor_size"] == [34, 34, 2]


@pytest.mark.slow
def test_checkpoints_load_with_weights_only(quick_run):
    from lavacut.export.exporter import net_from_checkpoint

    for name in ("best.pt", "last.pt"):
        raw = torch.load(quick_run / name, map_location="cpu", weights_only=True)
        assert {
            "format",
            "model",
            "optim",
            "epoch",
            "spec",
            "config",
            "history",
            "best_val_acc",
            "torch_rng",
            "versions",
        } <= set(raw)
        assert raw["spec"]["hidden"] == [64] and raw["spec"]["input_shape"] == [2, 34, 34]
        net = net_from_checkpoint(raw)
        assert not net.training
        w = net.blocks[0].synapse.weight_v
        assert w.shape[:2] == (64, 2312) and torch.isfinite(w).all()


@pytest.mark.slow
def test_resume_equals_an_uninterrupted_run(quick_run, one_epoch_run, tmp_path):
    run = _copy_run(one_epoch_run, tmp_path / "resumed")
    assert load_checkpoint(run / "last.pt")["epoch"] == 1
    _cli("train", "-c", QUICK, "--set", "train.epochs=2", "--resume", "--out", run)
    got = load_checkpoint(run / "last.pt")
    want = load_checkpoint(quick_run / "last.pt")
    assert got["epoch"] == want["epoch"] == 2
    assert [h["epoch"] for h in got["history"]] == [1, 2]
    m = json.loads((run / "metrics.json").read_text())
    assert [h["epoch"] for h in m["history"]] == [1, 2]
    # the same weights, bit for bit, as the run that was never interrupted
    assert got["model"].keys() == want["model"].keys()
    for k in want["model"]:
        assert torch.equal(got["model"][k], want["model"][k]), k
    for pid, st in want["optim"]["state"].items():
        for k, v in st.items():
            assert torch.equal(got["optim"]["state"][pid][k], v), (pid, k)
    assert torch.equal(got["torch_rng"], want["torch_rng"])
    for h_got, h_want in zip(got["history"], want["history"]):
        assert {k: v for k, v in h_got.items() if k != "seconds"} == {k: v for k, v in h_want.items() if k != "seconds"}
    assert got["best_val_acc"] == want["best_val_acc"]


@pytest.mark.slow
def test_resume_with_cosine_schedule_and_shifts(tmp_path):
    """The schedule and the random shifts are functions of (seed, epoch), so
    an interrupted augmented run resumes to the same weights."""
    sets = ("--set", "optim.schedule=cosine", "--set", "train.shift_px=2", "--set", "train.max_train_samples=160")
    whole, part = tmp_path / "whole", tmp_path / "part"
    _cli("train", "-c", QUICK, *sets, "--set", "train.epochs=2", "--out", whole)
    _cli("train", "-c", QUICK, *sets, "--set", "train.epochs=1", "--out", part)
    _cli("train", "-c", QUICK, *sets, "--set", "train.epochs=2", "--resume", "--out", part)
    got, want = load_checkpoint(part / "last.pt"), load_checkpoint(whole / "last.pt")
    for k in want["model"]:
        assert torch.equal(got["model"][k], want["model"][k]), k
    plain = tmp_path / "plain"
    _cli("train", "-c", QUICK, "--set", "train.max_train_samples=160", "--set", "train.epochs=2", "--out", plain)
    other = load_checkpoint(plain / "last.pt")
    assert any(not torch.equal(other["model"][k], want["model"][k]) for k in want["model"])


@pytest.mark.slow
def test_keep_last_exports_the_end_of_the_schedule(tmp_path):
    """train.keep = "last": best.pt (what experiments and export take) is the
    last epoch, whatever the validation accuracy said."""
    run = tmp_path / "last"
    _cli(
        "train",
        "-c",
        QUICK,
        "--set",
        "train.max_train_samples=160",
        "--set",
        "train.epochs=3",
        "--set",
        "train.keep=last",
        "--out",
        run,
    )
    best, last = load_checkpoint(run / "best.pt"), load_checkpoint(run / "last.pt")
    assert best["epoch"] == last["epoch"] == 3
    for k in last["model"]:
        assert torch.equal(best["model"][k], last["model"][k]), k
    m = json.loads((run / "metrics.json").read_text())
    assert m["best_epoch"] == 3 and m["config"]["train"]["keep"] == "last"
    # the validation figures are still recorded, the best of them included
    assert m["best_val_acc"] == max(h["val_acc"] for h in m["history"])
    with pytest.raises(LavacutError, match="train.keep"):
        _quick_cfg("train.keep=worst")


@pytest.mark.slow
def test_nan_in_a_resumed_epoch_keeps_the_last_good_checkpoint(one_epoch_run, tmp_path, monkeypatch):
    run = _copy_run(one_epoch_run, tmp_path / "diverge")
    before = {n: (run / n).read_bytes() for n in ("last.pt", "best.pt")}
    # the optimiser's first step leaves a NaN weight (an infinite learning rate
    # did this before the config refused it; the spiking output hides the NaN
    # from the loss, so the trainer checks the parameters)
    import torch

    adam_step = torch.optim.Adam.step

    def diverging_step(self, *a, **k):
        out = adam_step(self, *a, **k)
        with torch.no_grad():
            self.param_groups[0]["params"][0].view(-1)[0] = float("nan")
        return out

    with monkeypatch.context() as m:
        m.setattr(torch.optim.Adam, "step", diverging_step)
        with pytest.raises(NaNLossError) as exc:
            train(_quick_cfg("train.epochs=2"), run, resume=True, progress=False)
    msg = str(exc.value)
    assert "parameters became non-finite" in msg and "epoch 2, batch 0" in msg
    assert f"last good checkpoint is {run / 'last.pt'}" in msg and "try a lower optim.lr (now" in msg
    # a loss that is NaN itself (logits counts / 1e-300 overflow)
    with pytest.raises(
        NaNLossError,
        match=r"loss became nan at epoch 2, batch 0; training stopped\. "
        r"The last good checkpoint is .*last\.pt",
    ):
        train(_quick_cfg("train.epochs=2", "loss.tet_temperature=1e-300"), run, resume=True, progress=False)
    for n, data in before.items():
        assert (run / n).read_bytes() == data, n
    state = load_checkpoint(run / "last.pt")
    assert state["epoch"] == 1 and [h["epoch"] for h in state["history"]] == [1]
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "last.pt", "metrics.json", "training_curve.png"]


@pytest.mark.slow
def test_nan_in_the_first_epoch_says_no_checkpoint_exists(quick_run, tmp_path):
    # (quick_run: the data set is built and framed once, by the CLI run)
    run = tmp_path / "nan-first"
    with pytest.raises(NaNLossError, match=r"loss became nan at epoch 1, batch 0.*not written yet"):
        train(_quick_cfg("loss.tet_temperature=1e-300"), run, progress=False)
    assert list(run.iterdir()) == []


@pytest.mark.slow
def test_resume_with_another_architecture_names_the_field(one_epoch_run, tmp_path, capsys):
    run = _copy_run(one_epoch_run, tmp_path / "arch")
    before = (run / "last.pt").read_bytes()
    rc, out = _main(["train", "-c", QUICK, "--set", "net.hidden=[32]", "--resume", "--out", run], capsys)
    assert rc == 2
    assert "holds another architecture" in out.err and "hidden: checkpoint [64] vs config [32]" in out.err
    with pytest.raises(LavacutError, match="weight_norm: checkpoint True vs config False"):
        train(_quick_cfg("net.weight_norm=false"), run, resume=True, progress=False)
    assert (run / "last.pt").read_bytes() == before
    with pytest.raises(LavacutError, match="last.pt does not exist"):
        train(_quick_cfg(), tmp_path / "empty", resume=True, progress=False)


@pytest.mark.slow
def test_frames_of_another_shape_are_refused(one_epoch_run):
    from lavacut.data.sources import load_split
    from lavacut.export.exporter import net_from_checkpoint

    net = net_from_checkpoint(load_checkpoint(one_epoch_run / "last.pt"))
    small = load_split(_quick_cfg("framing.downsample=0.5"), "test", progress=False)
    assert small.frames.shape[1:4] == (2, 17, 17)
    with pytest.raises(LavacutError, match=r"input frames are \(2, 17, 17\)"):
        net(torch.from_numpy(small.frames[:2].astype(np.float32)))


@pytest.mark.slow
def test_terminated_train_says_how_to_resume(tmp_path):
    """SIGTERM after the first checkpoint: exit 143 and a one-line message
    with the command that continues the run (it names --resume)."""
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    # (a third of quick's samples: the first checkpoint comes sooner; 40 epochs still outlast the signal)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lavacut.cli",
            "train",
            "-c",
            str(QUICK),
            "--set",
            "train.epochs=40",
            "--set",
            "train.max_train_samples=160",
            "--out",
            str(run),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 600
        while time.time() < deadline and proc.poll() is None and not (run / "last.pt").is_file():
            time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert "terminated (SIGTERM)" in last and "--resume" in last and str(run / "last.pt") in last, last
    assert "Traceback" not in err
    load_checkpoint(run / "last.pt")  # the checkpoint it points to is whole


def test_failed_train_leaves_no_run_folder(tmp_path, capsys):
    """A train that fails before its first checkpoint removes the folders it made."""
    out = tmp_path / "runs" / "r"
    rc, _ = _main(
        ["train", "-c", QUICK, "--set", "data.dataset=nmnist", "--set", f"data.root={tmp_path}/none", "--out", out],
        capsys,
    )
    assert rc == 2 and not (tmp_path / "runs").exists()
