"""The command line's grammar (issue 26): every option has help text, a
shared option has one name, default and meaning in every command, and the
config drives calibrate and verify (the command line over the config)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from lavacut_testing import write_netx

from lavacut.cli import build_parser, main

T = 12
CUBA = {"type": "CUBA", "iDecay": 1024, "vDecay": 512, "vThMant": 80, "refDelay": 1, "gradedSpike": False}


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {
        a.option_strings[-1] if a.option_strings else a.dest: a
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction)
    }


def test_every_option_of_every_command_has_help():
    missing = [
        f"lavacut {name} {opt}"
        for name, p in [("", build_parser()), *_commands().items()]
        for opt, a in _options(p).items()
        if not (a.help or "").strip() or a.help == argparse.SUPPRESS
    ]
    assert not missing, f"options without help text: {missing}"


#: the option groups of lavacut.cli.options: one name, default and help
#: wherever they are taken (the help of --workers and --executor says what
#: the tasks are: shards of a split, or whole runs of a sweep)
SHARED = [
    "--config",
    "--set",
    "--input",
    "--split",
    "--samples",
    "--policy",
    "--param",
    "--mode",
    "--backend",
    "--models",
    "--lanes",
    "--workers",
    "--executor",
    "--ray-address",
    "--force",
    "--debug",
    "--quiet",
]
#: the same name with a narrower meaning, on purpose: calibrate's --split is
#: train only; data's --split is the split summarised; rcs-sweep's --set
#: applies to every run of the sweep (it takes no --config)
NARROWER = {("calibrate", "--split"), ("data", "--split"), ("rcs-sweep", "--set")}


def test_a_shared_option_has_one_default_and_meaning_everywhere():
    first: dict[str, tuple[str, argparse.Action]] = {}
    for name, p in _commands().items():
        for opt, a in _options(p).items():
            if opt == "--report":  # one rule: reports/<command>.json
                assert a.default == f"reports/{name}.json", f"lavacut {name} --report"
            if opt not in SHARED or (name, opt) in NARROWER:
                continue
            other, b = first.setdefault(opt, (name, a))
            assert (a.option_strings, a.default, a.choices, a.type, a.nargs, a.metavar) == (
                b.option_strings,
                b.default,
                b.choices,
                b.type,
                b.nargs,
                b.metavar,
            ), f"{opt}: lavacut {name} and lavacut {other} differ"
            if opt not in ("--workers", "--executor"):
                assert a.help == b.help, f"{opt}: the help of lavacut {name} and lavacut {other} differ"
            assert opt in ("--debug", "--quiet", "--force") or a.default in (None, []), (
                f"lavacut {name} {opt}: a shared option defaults to None (the config's value)"
            )
    for name, p in _commands().items():  # every command lists --debug and --quiet
        assert {"--debug", "--quiet"} <= set(_options(p)), name
    # the sample selection: None = the config's [run] (0 = all) wherever it is taken
    for name in ("run", "evaluate", "verify", "demo"):
        opts = _options(_commands()[name])
        assert opts["--samples"].default is None and opts["--split"].default is None, name
        assert "0 = all" in opts["--samples"].help


def test_samples_parse_the_same_everywhere(capsys):
    for name in ("run", "evaluate", "verify", "demo"):
        args = ["x.net"] if name != "demo" else []
        assert build_parser().parse_args([name, *args, "--samples", "0"]).samples == 0
        with pytest.raises(SystemExit):
            build_parser().parse_args([name, *args, "--samples", "-1"])
        assert "must be an integer >= 0, got -1" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the config drives calibrate, verify
def _two_class_net(tmp_path):
    """Two inputs -> two CUBA neurons, each driven mostly by its own input."""
    return write_netx(
        tmp_path / "two_class.net",
        [
            {
                "type": "dense",
                "shape": np.array([2]),
                "inFeatures": 2,
                "outFeatures": 2,
                "weight": np.array([[90.0, 20.0], [20.0, 90.0]]),
                "neuron": CUBA,
            }
        ],
    )


def _labelled_frames(tmp_path, n=200):
    """Class c: input c spikes at rate 0.45, the other at 0.35 (close: the
    decisions take a while, and Top-K's eps moves them)."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 2
    rate = np.where(np.eye(2, dtype=bool)[labels], 0.45, 0.35)  # (n, 2)
    frames = (rng.random((n, 2, T)) < rate[..., None]).astype(np.uint8)
    path = tmp_path / "frames.npz"
    np.savez(path, frames=frames, labels=labels)
    return path


def _toml(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_calibrate_takes_cutoff_from_the_config_and_the_command_line_over_it(tmp_path, capsys):
    from lavacut.export.validate import read_metadata

    net, data = _two_class_net(tmp_path), _labelled_frames(tmp_path)
    cfg = _toml(tmp_path, "cutoff.toml", '[cutoff]\neps = 0.07\npolicy = "confidence"\n')
    assert main(["calibrate", str(net), "--input", str(data), "--config", str(cfg)]) == 0, capsys.readouterr().err
    meta = read_metadata(net)
    assert meta["calibration"]["eps"] == 0.07 and meta["default_policy"] == "confidence"
    assert "default policy: confidence" in capsys.readouterr().out

    assert (
        main(
            ["calibrate", str(net), "--input", str(data), "--config", str(cfg), "--eps", "0.03", "--default", "entropy"]
        )
        == 0
    ), capsys.readouterr().err
    meta = read_metadata(net)
    assert meta["calibration"]["eps"] == 0.03 and meta["default_policy"] == "entropy"

    # choose_eps: eps chosen on the hold-out within [cutoff] max_drop_pp
    auto = _toml(tmp_path, "auto.toml", "[cutoff]\nchoose_eps = true\nmax_drop_pp = 20.0\n")
    assert main(["calibrate", str(net), "--input", str(data), "--config", str(auto)]) == 0, capsys.readouterr().err
    meta = read_metadata(net)
    assert meta["calibration"]["eps_choice"] is not None
    assert meta["calibration"]["eps_choice"]["max_drop_pp"] == 20.0
    assert "at an accuracy drop <= 20 pp" in capsys.readouterr().out


def test_verify_takes_run_samples_and_backend_from_the_config_and_the_command_line_over_it(tmp_path, capsys):
    from lavacut.runtime.session import require_loihi2
    from lavacut.util import LavacutError

    net, data = _two_class_net(tmp_path), _labelled_frames(tmp_path, n=6)
    report = tmp_path / "verify.json"

    def verify(*extra):
        code = main(["verify", str(net), "--input", str(data), "--report", str(report), "--lanes", "1", *extra])
        return code, capsys.readouterr()

    cfg = _toml(tmp_path, "run.toml", "[run]\nsamples = 3\n")
    code, out = verify("--config", str(cfg))
    assert code == 0, out.err
    assert json.loads(report.read_text())["n_samples"] == 3
    code, out = verify("--config", str(cfg), "--samples", "0")  # 0 = all
    assert code == 0, out.err
    assert json.loads(report.read_text())["n_samples"] == 6

    try:
        require_loihi2()
    except LavacutError:
        pass
    else:
        pytest.skip("lava-loihi is installed: backend loihi2 would run")
    chip = _toml(tmp_path, "chip.toml", '[run]\nsamples = 2\nbackend = "loihi2"\n')
    code, out = verify("--config", str(chip))
    assert code == 2 and "backend 'loihi2' is not available" in out.err
    code, out = verify("--config", str(chip), "--backend", "cpu")
    assert code == 0, out.err
    rep = json.loads(report.read_text())
    assert rep["n_samples"] == 2 and rep["backend"] == "cpu"


@pytest.mark.parametrize("raw, shown", [("0", "0"), ("-3", "-3"), ("1.5", "'1.5'"), ("many", "'many'")])
def test_check_refuses_replicas_below_one(tmp_path, capsys, monkeypatch, raw, shown):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["check", "embedded_dense", "--replicas", raw])
    assert exc.value.code == 2
    assert f"argument --replicas: must be an integer >= 1, got {shown}" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()  # refused before anything is written
    assert build_parser().parse_args(["check", "x.net", "--replicas", "3"]).replicas == 3


def test_the_program_freezes_its_imports_and_main_leaves_a_callers_gc_alone(monkeypatch, capsys):
    """``lavacut`` in a process of its own moves what its imports made to
    gc's permanent generation; :func:`main` called in a caller's process
    freezes nothing of the caller's."""
    import gc
    import sys

    from lavacut.cli import program

    gc.unfreeze()  # the suite's own freeze (conftest), made again below
    try:
        assert main(["list"]) == 0
        assert gc.get_freeze_count() == 0
        monkeypatch.setattr(sys, "argv", ["lavacut", "list"])
        assert program() == 0
        assert gc.get_freeze_count() > 100_000  # torch's, Lava's and lavacut's objects
    finally:
        gc.freeze()
    assert "embedded_dense" in capsys.readouterr().out
