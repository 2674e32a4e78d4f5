"""The one validator of NetX files (lavacut/export/validate.py), through the
real ``lavacut`` entry point: every malformed file of issue 22 (built with
h5py from a shipped export, :mod:`bad_netx`) is refused by run with exit 2
and one line naming the file and the field, failed by check and inspect
with exit 1, and inspect's "would run" says exactly what run does. Stock
NetX files from the lava-dl wheel still pass (they run and verify in
tests/runtime/test_layouts.py::test_stock_wheel_file_run_and_verify); inspect warns about layers
whose spikes cannot depend on their input."""

from __future__ import annotations

import json
import shutil
import sysconfig
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
from bad_netx import BAD, CONV, DENSE, make_bad

from lavacut.cli import main
from lavacut.export.validate import MAX_ELEMENTS, problems

WHEEL = Path(sysconfig.get_paths()["purelib"]) / "tests" / "lava" / "lib" / "dl" / "netx"
STOCK = {
    "tiny": WHEEL / "tiny.net",
    "ntidigits": WHEEL / "gts" / "ntidigits" / "ntidigits.net",
    "pilotnet_lif": WHEEL / "gts" / "pilotnet_lif" / "network.net",
}


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bad_netx")
    for name in BAD:
        make_bad(name, d)
    return d


def _cli(capsys, *args) -> tuple[int, str, str]:
    try:
        rc = main([str(a) for a in args])
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out, err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("name", list(BAD))
def test_run_refuses_with_exit_2_naming_the_field(bad_dir, capsys, monkeypatch, tmp_path, name):
    monkeypatch.chdir(tmp_path)
    path = bad_dir / f"{name}.net"
    rc, out, err = _cli(capsys, "run", path, "--samples", "2")
    line = _one_error_line(err)
    assert rc == 2, out + err
    assert line.startswith(f"lavacut run: error: {path}: ") and BAD[name][2] in line, line
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name", list(BAD))
def test_check_and_inspect_fail_with_exit_1_naming_the_field(bad_dir, capsys, name):
    path = bad_dir / f"{name}.net"
    rc, out, err = _cli(capsys, "check", path)
    assert rc == 1 and "FAIL" in out and BAD[name][2] in out, out + err
    rc, out, err = _cli(capsys, "inspect", path)
    assert rc == 1, out + err
    assert any(line.startswith("PROBLEM: ") and BAD[name][2] in line for line in out.splitlines()), out
    assert out.rstrip().splitlines()[-1].startswith("would run: no")


@pytest.mark.parametrize(
    "name",
    [
        "external_link",
        "huge_declared",
        "complex_weight",
        "bias_1e9",
        "hash_removed",
        "negative_beta",
        "all_zero_weight",
        "calibration_under_other_name",
        "meta_not_text",
    ],
)
def test_every_command_that_reads_a_network_refuses_it(bad_dir, capsys, monkeypatch, tmp_path, name):
    monkeypatch.chdir(tmp_path)
    path = bad_dir / f"{name}.net"
    before = path.read_bytes()
    for argv in (
        ["evaluate", path, "--samples", "2"],
        ["verify", path, "--samples", "2"],
        ["calibrate", path],
        ["export", path, "--format", "nir", "-o", tmp_path / "x.nir"],
    ):
        if argv[0] == "export" and name == "bias_1e9":
            continue  # NIR is a float format: Loihi's ranges are run's and check's, not the NIR export's
        rc, out, err = _cli(capsys, *argv)
        assert rc == 2 and BAD[name][2] in _one_error_line(err), (argv, out + err)
    assert path.read_bytes() == before and not any(tmp_path.iterdir())


def test_inspect_would_run_is_what_run_does(bad_dir, capsys, monkeypatch, tmp_path):
    """Over every malformed file: inspect's last line says "would run: no"
    exactly for the files run refuses (all of them), and the PROBLEM lines
    are the reasons run gives."""
    monkeypatch.chdir(tmp_path)
    for name in BAD:
        path = bad_dir / f"{name}.net"
        _, out, _ = _cli(capsys, "inspect", path)
        would = out.rstrip().splitlines()[-1]
        listed = [line.removeprefix("PROBLEM: ") for line in out.splitlines() if line.startswith("PROBLEM: ")]
        rc, _, err = _cli(capsys, "run", path, "--samples", "1")
        assert (rc == 2) == would.startswith("would run: no"), (name, would, err)
        line = _one_error_line(err)
        assert all(p in line for p in listed), (name, listed, line)


def test_force_does_not_pass_a_malformed_file(bad_dir, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    rc, _, err = _cli(capsys, "run", bad_dir / "external_link.net", "--force", "--samples", "1")
    assert rc == 2 and "external link" in err
    rc, _, err = _cli(capsys, "run", bad_dir / "bias_1e9.net", "--samples", "1")
    assert rc == 2 and "--force runs it anyway" in err


@pytest.mark.slow
def test_force_runs_a_range_violation_with_a_warning(bad_dir, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    frames = tmp_path / "f.npy"
    np.save(frames, (np.random.default_rng(0).random((2, 2, 34, 34, 30)) < 0.05).astype(np.uint8))
    rc, out, err = _cli(
        capsys,
        "run",
        bad_dir / "bias_1e9.net",
        "--force",
        "--input",
        frames,
        "--samples",
        "2",
        "--report",
        tmp_path / "r.json",
    )
    assert rc == 0, out + err
    assert "warning: " in err and "[bias] layer 2: bias mantissas span" in err and "--force" in err


# ----------------------------------------------------------------------------- files that pass
@pytest.mark.parametrize("path", [DENSE, CONV, *STOCK.values()], ids=lambda p: Path(p).name)
def test_shipped_and_stock_files_pass(capsys, path):
    assert problems(path) == []
    rc, out, err = _cli(capsys, "inspect", path)
    assert rc == 0 and out.rstrip().splitlines()[-1] == "would run: yes", out + err
    rc, out, err = _cli(capsys, "check", path)
    assert rc == 0, out + err


def test_a_stored_rule_variant_runs_as_its_rule(tmp_path):
    """``calibrate --risk-delta`` stores Top-K chosen under a risk guarantee
    as the variant ``topk_risk`` (and ``--default topk_risk`` may make it the
    default): a valid file, and run takes its calibration."""
    from lavacut.cutoff.rules import TopKGap
    from lavacut.export.artifact import Export
    from lavacut_testing import run_cli

    path = tmp_path / "variant.net"
    shutil.copyfile(DENSE, path)
    with h5py.File(path, "r+") as f:
        f["lavacut/cutoff"].copy("topk", "topk_risk")
        params = json.loads(f["lavacut/cutoff/topk_risk"].attrs["params"])
        params.update(delta=0.05, confidence=0.9)
        f["lavacut/cutoff/topk_risk"].attrs["params"] = json.dumps(params)
        f["lavacut/cutoff"].attrs["default"] = "topk_risk"
    assert problems(path) == []
    rule = Export.open(path).rule(None, None, 30)
    assert isinstance(rule, TopKGap) and (rule.delta, rule.confidence) == (0.05, 0.9)
    report = tmp_path / "run.json"
    run_cli("run", path, "--samples", "3", "--report", report)
    rep = json.loads(report.read_text())
    assert rep["policy"] == "topk" and rep["policy_params"]["delta"] == 0.05


@pytest.mark.parametrize("eps", [float("nan"), 2.0, -1.0])
def test_a_target_the_rule_refuses_is_named_not_sent_to_calibrate(eps):
    """--param eps=nan: the rule's own refusal, not 'run lavacut calibrate --eps nan' (which fails too)."""
    from lavacut.export.artifact import Export
    from lavacut.util import LavacutError

    with pytest.raises(LavacutError, match=r"^topk: eps must be") as e:
        Export.open(DENSE).rule("topk", {"eps": eps}, 30)
    assert "calibrate" not in str(e.value)
    with pytest.raises(LavacutError, match=r"calibrated for eps=0.01; for eps=0.03 run 'lavacut calibrate"):
        Export.open(DENSE).rule("topk", {"eps": 0.03}, 30)


def test_element_limit_is_far_above_real_networks():
    def declared(path):
        with h5py.File(path, "r") as f:
            n = []
            f.visititems(lambda k, o: n.append(o.size) if isinstance(o, h5py.Dataset) else None)
        return sum(n)

    assert max(declared(p) for p in [DENSE, CONV, *STOCK.values()]) * 20 < MAX_ELEMENTS


# ----------------------------------------------------------------------------- warnings (issue 23)
def test_inspect_and_check_warn_about_an_input_layer_that_fires_whatever_its_input(capsys):
    rc, out, _ = _cli(capsys, "inspect", STOCK["tiny"])
    assert rc == 0
    assert (
        "WARNING: layer 0 (input): its bias (34..34) alone drives every neuron past its threshold (vThMant 25) "
        "at every step: it fires at every step whatever the frames are, so nothing after it depends on the "
        "input"
    ) in out
    rc, out, _ = _cli(capsys, "check", STOCK["tiny"])
    assert rc == 0 and "warning [activity] layer 0 (input): its bias" in out
    _, out, _ = _cli(capsys, "inspect", DENSE)
    assert "WARNING" not in out


def test_inspect_warns_about_an_output_layer_that_never_spikes(tmp_path, capsys):
    from lavacut.export.netx.file import content_hash

    path = tmp_path / "silent.net"
    shutil.copyfile(DENSE, path)
    with h5py.File(path, "a") as f:
        w = -np.abs(f["layer/2/weight"][()])
        del f["layer/2/weight"]
        f["layer/2/weight"] = w
        import json

        m = json.loads(f["lavacut"].attrs["meta"])
        m["content_sha256"] = content_hash(f)
        f["lavacut"].attrs["meta"] = json.dumps(m)
    rc, out, _ = _cli(capsys, "inspect", path)
    assert rc == 0
    assert (
        "WARNING: layer 2 (dense, the output): even with every excitatory input spiking at every step (input "
        "current at most 0) no neuron reaches its threshold (vThMant 80): it never spikes"
    ) in out


def test_an_output_layer_without_neurons_is_named_a_voltage_readout(capsys):
    _, out, _ = _cli(capsys, "inspect", WHEEL / "mnist.net")
    assert "layer 3 (dense) is a voltage readout" in out
    assert "PROBLEM" not in out


# ----------------------------------------------------------------------------- NIR import
def _nir_graph(weight):
    return nir.NIRGraph.from_list(
        nir.Input(input_type=np.array([4])),
        nir.Linear(weight=weight),
        nir.CubaLIF(
            tau_syn=np.full(3, 0.01), tau_mem=np.full(3, 0.02), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3)
        ),
        nir.Output(output_type=np.array([3])),
    )


@pytest.mark.parametrize(
    "case, message",
    [
        ("nan", "node 'linear' (Linear) parameter weight contains NaN"),
        ("empty", "node 'linear' (Linear) parameter weight is empty (shape (0, 4))"),
        ("huge", "node/nodes/linear/weight: declares 3600000000 elements"),
    ],
)
def test_nir_import_refuses_bad_parameters_naming_the_node(tmp_path, capsys, monkeypatch, case, message):
    monkeypatch.chdir(tmp_path)
    w = np.full((3, 4), 0.5)
    if case == "nan":
        w[1, 1] = np.nan
    path = tmp_path / f"{case}.nir"
    nir.write(path, _nir_graph(w))
    with h5py.File(path, "a") as f:  # what nir's own type check would not let a graph hold
        if case != "nan":
            del f["node/nodes/linear/weight"]
        if case == "empty":
            f["node/nodes/linear/weight"] = np.zeros((0, 4))
        elif case == "huge":  # 13 GiB declared, a few KB on disk
            f["node/nodes/linear"].create_dataset(
                "weight", shape=(60000, 60000), dtype="f8", chunks=(1000, 1000), compression="gzip"
            )
    rc, out, err = _cli(capsys, "import", path, "-o", tmp_path / "out" / "x.net", "--no-evaluate", "--dt", "1e-3")
    assert rc == 2 and message in _one_error_line(err), out + err
    assert not (tmp_path / "out" / "x.net").exists()
