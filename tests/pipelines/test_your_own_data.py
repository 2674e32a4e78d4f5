"""A user's own frames and recordings through ``lavacut run`` and
``lavacut evaluate`` on the shipped export: the per-sample report, labels or
none, and the refusals that name what is wrong."""

import csv
import json

import numpy as np
import pytest
from lavacut_testing import DENSE as EXPORT, run_cli

N = 6


@pytest.fixture(scope="module")
def test_samples():
    """The first N test samples of the embedded set: events, labels, and the
    frames the export's own framing makes of them."""
    from lavacut.export.artifact import Export

    export = Export.open(EXPORT)
    data = export.frames(export.config(), "test", N, progress=False)
    from lavacut.data.sources import open_dataset

    ds = open_dataset(export.config().data, "test", progress=False)
    events = [ds[i][0] for i in range(N)]
    return data.frames, data.labels, events


@pytest.mark.slow
def test_labelled_npz_and_unlabelled_npy_give_the_same_decisions(tmp_path, test_samples):
    frames, labels, _ = test_samples
    np.savez(
        tmp_path / "mine.npz",
        frames=frames.astype(np.uint8),
        labels=labels,
        classes=np.array([str(k) for k in range(10)]),
    )
    np.save(tmp_path / "mine.npy", frames.astype(np.uint8))
    reps = {}
    for name in ("mine.npz", "mine.npy"):
        report = tmp_path / f"{name}.json"
        run_cli("run", EXPORT, "--input", tmp_path / name, "--report", report)
        reps[name] = json.loads(report.read_text())
    lab, unl = reps["mine.npz"], reps["mine.npy"]
    assert lab["n_samples"] == unl["n_samples"] == N
    assert [r["label"] for r in lab["per_sample"]] == labels.tolist()
    assert lab["accuracy_cutoff"] == pytest.approx(np.mean([r["pred"] == r["label"] for r in lab["per_sample"]]))
    # no labels: accuracy is null, never invented; the decisions are still reported
    assert unl["accuracy_full"] is None and unl["accuracy_cutoff"] is None and unl["accuracy_drop_pp"] is None
    assert all(r["label"] is None for r in unl["per_sample"])
    strip = [{k: v for k, v in r.items() if k != "label"} for r in lab["per_sample"]]
    assert strip == [{k: v for k, v in r.items() if k != "label"} for r in unl["per_sample"]]
    for r in lab["per_sample"]:
        assert len(r["counts"]) == len(r["counts_full"]) == 10 and 1 <= r["t_c"] <= 30
        assert sum(r["counts"]) <= sum(r["counts_full"])  # counts grow with t
        assert r["pred_full"] == (int(np.argmax(r["counts_full"])) if any(r["counts_full"]) else -1)
    rows = list(csv.DictReader(open((tmp_path / "mine.npy.json").with_suffix(".samples.csv"))))
    assert [int(r["t_c"]) for r in rows] == [r["t_c"] for r in unl["per_sample"]] and rows[0]["label"] == ""


@pytest.mark.slow
def test_evaluate_per_sample_counts_are_slayer_counts(tmp_path, test_samples):
    from lavacut.export.artifact import Export
    from lavacut.train.inference import forward

    frames, labels, _ = test_samples
    np.savez(tmp_path / "mine.npz", frames=frames.astype(np.uint8), labels=labels)
    report = tmp_path / "ev.json"
    run_cli("evaluate", EXPORT, "--input", tmp_path / "mine.npz", "--report", report)
    rep = json.loads(report.read_text())
    spikes = forward(Export.open(EXPORT).slayer_net(), frames)
    assert [r["counts_full"] for r in rep["per_sample"]] == spikes.sum(axis=-1).tolist()
    for r, sp in zip(rep["per_sample"], spikes):
        assert r["counts"] == sp[:, : r["t_c"]].sum(axis=-1).tolist()
    assert "sweeps" not in rep  # sweeps calibrate on a data set's training split, not on --input


@pytest.mark.slow
def test_a_folder_of_recordings_runs_with_the_exports_framing(tmp_path, test_samples):
    """Class subfolders of tonic .npy recordings give the same frames, hence
    the same decisions, as the data set itself."""
    frames, labels, events = test_samples
    for i, (ev, y) in enumerate(zip(events, labels)):
        d = tmp_path / "rec" / f"{int(y)}"
        d.mkdir(parents=True, exist_ok=True)
        np.save(d / f"s{i:02d}.npy", ev)
    np.savez(tmp_path / "frames.npz", frames=frames.astype(np.uint8))
    out = {}
    for name, path in (("folder", tmp_path / "rec"), ("frames", tmp_path / "frames.npz")):
        run_cli("evaluate", EXPORT, "--input", path, "--report", tmp_path / f"{name}.json")
        out[name] = json.loads((tmp_path / f"{name}.json").read_text())
    assert out["folder"]["n_samples"] == N and out["folder"]["classes"] == [str(k) for k in range(10)]
    assert out["folder"]["label_mapping"]["rule"] == "by class name"
    assert [r["label"] for r in out["folder"]["per_sample"]] == sorted(labels.tolist())
    by_counts = sorted(tuple(r["counts_full"]) for r in out["folder"]["per_sample"])
    assert by_counts == sorted(tuple(r["counts_full"]) for r in out["frames"]["per_sample"])


def test_bad_frames_are_refused_with_counts_and_shapes(tmp_path):
    bad = np.zeros((2, 2, 34, 34, 30))
    bad[0, 0, 0, 0, :3] = np.nan
    bad[1, 0, 0, 1, :2] = 2
    np.save(tmp_path / "bad.npy", bad)
    r = run_cli("run", EXPORT, "--input", tmp_path / "bad.npy", "--report", tmp_path / "r.json", check=False)
    assert r.returncode == 2 and "3 NaN values" in r.stderr and "2 values other than 0/1" in r.stderr
    np.save(tmp_path / "small.npy", np.zeros((2, 2, 17, 17, 30), dtype=np.uint8))
    r = run_cli("evaluate", EXPORT, "--input", tmp_path / "small.npy", "--report", tmp_path / "r.json", check=False)
    assert r.returncode == 2 and "(2, 2, 17, 17, 30)" in r.stderr and "(2, 34, 34)" in r.stderr
    assert not (tmp_path / "r.json").exists()


@pytest.mark.slow
def test_every_recording_format_gives_the_same_decisions_through_the_cli(tmp_path):
    """The same events written as tonic .npy, N-MNIST .bin, Prophesee .dat and
    .aedat4 class folders: lavacut evaluate reads each and decides the same."""
    from event_files_testing import events, write_aedat4, write_dat, write_nmnist

    recordings = [(k % 2, events(n=3000, w=34, h=34, t_max=295_000, seed=k)) for k in range(4)]
    writers = {
        "npy": lambda p, ev: np.save(p, ev),
        "bin": write_nmnist,
        "dat": lambda p, ev: write_dat(p, ev, 34, 34),
        "aedat4": lambda p, ev: write_aedat4(p, ev, 34, 34),
    }
    out = {}
    for ext, write in writers.items():
        for i, (y, ev) in enumerate(recordings):
            d = tmp_path / ext / f"{y}"
            d.mkdir(parents=True, exist_ok=True)
            write(d / f"r{i}.{ext}", ev)
        report = tmp_path / f"{ext}.json"
        run_cli("evaluate", EXPORT, "--input", tmp_path / ext, "--report", report)
        rows = json.loads(report.read_text())["per_sample"]
        assert [r.pop("recording") for r in rows] == [str(p) for p in sorted((tmp_path / ext).glob("*/*"))]
        out[ext] = rows
    assert len(out["npy"]) == 4 and [r["label"] for r in out["npy"]] == [0, 0, 1, 1]
    assert sum(sum(r["counts_full"]) for r in out["npy"]) > 0  # the net answered
    for ext in ("bin", "dat", "aedat4"):
        assert out[ext] == out["npy"], ext
