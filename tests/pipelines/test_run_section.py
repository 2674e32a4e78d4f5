"""The ``[run]`` section of the one config object drives ``lavacut run``
when the command line does not say otherwise."""

import json

import pytest
from lavacut_testing import DENSE as EXPORT, run_cli

from lavacut.export.artifact import Export
from lavacut.pipelines.run import RunRequest, open_run


def test_command_line_over_run_section_over_export_config(tmp_path):
    cfg_file = tmp_path / "run.toml"
    cfg_file.write_text('[run]\nsamples = 7\nsplit = "train"\nmode = "stream"\n')
    export, cfg, split, samples = open_run(RunRequest(EXPORT, config_path=cfg_file))
    assert (split, samples, cfg.run.mode) == ("train", 7, "stream")
    _, _, split, samples = open_run(RunRequest(EXPORT, config_path=cfg_file, split="test", samples=2))
    assert (split, samples) == ("test", 2)
    # without --config the export's own stored config is the base; --set applies on top
    _, cfg, split, samples = open_run(RunRequest(EXPORT, overrides=("run.samples=5",)))
    assert samples == 5 and split == "test" and cfg.data.dataset == "embedded"
    assert cfg.framing.T == Export.open(EXPORT).meta["framing"]["T"]


@pytest.mark.slow
def test_run_reads_the_run_section(tmp_path):
    report = tmp_path / "r.json"
    run_cli("run", EXPORT, "--set", "run.samples=4", "--set", "run.mode=stream", "--report", report)
    rep = json.loads(report.read_text())
    assert rep["n_samples"] == 4 and rep["mode"] == "stream" and len(rep["per_sample"]) == 4
