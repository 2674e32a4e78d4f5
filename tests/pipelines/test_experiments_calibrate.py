"""``lavacut experiments`` and ``rcs-sweep`` calibrate through
``calibrate_export``, which alone decides eps, the default policy and the
drop budget from the config (the command line over the config over the
defaults): the recipe's ``[cutoff]`` reaches it as that config."""

import dataclasses
import shutil

import pytest
from lavacut_testing import DENSE

import lavacut.pipelines.experiments as ex
from lavacut.config import CutoffConfig
from lavacut.export.artifact import Export
from lavacut.export.validate import read_metadata
from lavacut.pipelines.run import open_run


def _finished_run(tmp_path):
    """A finished training (nothing to train or export) and its export."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for f in ("best.pt", "metrics.json"):
        (run_dir / f).write_text("x")
    export = tmp_path / "dense.net"
    shutil.copyfile(DENSE, export)
    return run_dir, export


def _recipe(export, **cutoff):
    """The export's own training config with another [cutoff]."""
    cfg = Export.open(export).config()
    assert cfg.cutoff != CutoffConfig(**cutoff)  # the recipe differs from what the export stores
    return dataclasses.replace(cfg, cutoff=dataclasses.replace(cfg.cutoff, **cutoff))


def test_the_recipes_cutoff_is_the_config_calibrate_export_decides_from(tmp_path, monkeypatch):
    run_dir, export = _finished_run(tmp_path)
    cfg = _recipe(export, eps=0.07, policy="confidence", choose_eps=True, max_drop_pp=2.5, calib_dropout=0.1)
    calls = []
    monkeypatch.setattr(ex, "calibrate_export", lambda req, **kw: calls.append((req, kw)) or [])
    assert ex.train_export_calibrate(cfg, run_dir, export, "dense", log=lambda m: None) is False
    [(req, kw)] = calls
    assert set(kw) <= {"progress"}  # nothing decided here
    _, resolved, _, _ = open_run(req)  # the config calibrate_export reads
    assert resolved.cutoff == cfg.cutoff
    assert dataclasses.replace(resolved, cutoff=cfg.cutoff) == cfg


@pytest.mark.slow
def test_train_export_calibrate_stores_what_the_recipe_asks(tmp_path):
    run_dir, export = _finished_run(tmp_path)
    cfg = _recipe(export, policy="confidence", choose_eps=True, max_drop_pp=20.0)
    logged = []
    ex.train_export_calibrate(cfg, run_dir, export, "dense", log=logged.append, progress=False)
    meta = read_metadata(export)
    assert meta["default_policy"] == "confidence"
    choice = meta["calibration"]["eps_choice"]
    assert choice["max_drop_pp"] == 20.0 and meta["calibration"]["eps"] == choice["eps"]
    assert any(line.startswith("   topk: eps") and "chosen" in line for line in logged), logged
