"""Hostile configuration files and ``--set`` overrides: each is refused by
:func:`lavacut.config.load_config` with a ConfigError naming the file (or
"command-line overrides") and the key, and through the CLI in one line with
exit 2; nothing is silently ignored."""

from __future__ import annotations

import numpy as np
import pytest
from event_files_testing import events
from lavacut_testing import DENSE as NET, run_cli

from lavacut.config import ConfigError, load_config


# file content -> words the error names (besides the file)
FILES = {
    "unknown section": ("[bogus]\nx = 1\n", ["unknown key", "bogus"]),
    "unknown key": ("[run]\nbogus = 1\n", ["[run]", "bogus"]),
    "wrong type": ('[run]\nsamples = "3"\n', ["run.samples", "integer"]),
    "float for int": ("[framing]\nT = 3.0\n", ["framing.T", "integer"]),
    "bool for int": ("[framing]\nT = true\n", ["framing.T"]),
    "negative samples": ("[run]\nsamples = -1\n", ["run.samples"]),
    "negative lanes": ("[run]\nlanes = -1\n", ["run.lanes"]),
    "zero workers": ("[run]\nworkers = 0\n", ["run.workers"]),
    "nan eps": ("[cutoff]\neps = nan\n", ["cutoff.eps", "finite"]),
    "inf eps": ("[cutoff]\neps = inf\n", ["cutoff.eps", "finite"]),
    "eps out of range": ("[cutoff]\neps = 1.5\n", ["cutoff.eps", "[0, 1)"]),
    "negative eps": ("[cutoff]\neps = -0.1\n", ["cutoff.eps"]),
    "section as a value": ("framing = 3\n", ["[framing]", "table"]),
    "not TOML": ("this is not toml {{{\n", ["not valid TOML"]),
    "same key twice": ("[run]\nsamples = 1\nsamples = 2\n", ["not valid TOML"]),
    "empty sensor (was ignored)": ("[data]\nsensor = []\n", ["data.sensor", "[W, H, P]"]),
    "sensor of 4 (named no file)": ("[data]\nsensor = [34, 34, 2, 5]\n", ["data.sensor", "[W, H, P]"]),
    "sensor P = 3": ("[data]\nsensor = [34, 34, 3]\n", ["data.sensor", "P (polarities) 1 or 2"]),
    "T zero (named no file)": ("[framing]\nT = 0\n", ["framing.T"]),
    "crop of 2 (named no file)": ('[framing]\nfit = "crop"\ncrop = [1, 2]\n', ["crop must be"]),
    "sensor 0 wide": ("[data]\nsensor = [0, 34, 2]\n", ["data.sensor[0]"]),
    "label_map a list": ("[data]\nlabel_map = [1, 2]\n", ["data.label_map", "table"]),
    "unknown policy": ('[cutoff]\npolicy = "nope"\n', ["cutoff.policy"]),
    "unknown slicing": ('[framing]\nslicing = "frames"\n', ["framing.slicing"]),
}


def _write(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", sorted(FILES))
def test_hostile_config_file_refused_naming_file_and_key(tmp_path, case):
    text, words = FILES[case]
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    for w in [str(path), *words]:
        assert w in str(e.value), (w, str(e.value))


@pytest.mark.parametrize(
    "raw,bad",
    [
        (b"\xff\xfe[run]\n", "not UTF-8"),
        (None, "is not a file"),  # a folder named like a config
    ],
)
def test_config_that_is_not_a_text_file(tmp_path, raw, bad):
    path = tmp_path / "c.toml"
    path.write_bytes(raw) if raw is not None else path.mkdir()
    with pytest.raises(ConfigError, match=bad):
        load_config(path)


def test_empty_config_is_the_defaults(tmp_path):
    assert load_config(_write(tmp_path, "")) == load_config(None)


OVERRIDES = {
    "framing.T=0": "framing.T must be at least 1",
    "framing.T=-3": "framing.T must be at least 1",
    "framing.bin_us=0": "framing.bin_us must be at least 1",
    "framing.downsample=0": "command-line overrides: framing: downsample",  # FramingConfig's own check, named
    "cutoff.eps=nan": "cutoff.eps",
    "cutoff.eps=1": "cutoff.eps",
    "run.lanes=-2": "run.lanes",
    "nope.key=1": "no config section 'nope'",
    "run.nokey=1": "no key 'nokey'",
    "framing.T": "not of the form",
    "framing.T=": "framing.T",
    "framing.T=1e9": "framing.T",
    "data.sensor=[]": "data.sensor",
    "data.sensor=[34,34,-2]": "data.sensor[2]",
    "data.sensor=34": "data.sensor",
}


@pytest.mark.parametrize("item", sorted(OVERRIDES))
def test_hostile_override_refused(item):
    with pytest.raises(ConfigError, match=OVERRIDES[item].replace("[", r"\[").replace("]", r"\]")):
        load_config(None, [item])


def test_an_override_given_twice_with_two_values_is_refused():
    with pytest.raises(ConfigError, match=r"override train.epochs given twice \(3, then 5\): give it once"):
        load_config(None, ["train.epochs=3", "cutoff.eps=0.1", "train.epochs = 5"])
    assert load_config(None, ["train.epochs=3", "train.epochs=3"]).train.epochs == 3  # the same twice: no doubt


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "r.npy"
    np.save(path, events(100, w=34, h=34))
    return path


@pytest.mark.parametrize(
    "args,words",
    [
        (["--set", "data.sensor=[]"], ["data.sensor"]),
        (["--set", "data.sensor=[34,34,3]"], ["data.sensor", "P (polarities)"]),
        (["--set", "data.label_map={a=1}"], ["data.label_map", "r.npy"]),  # was silently ignored
        (["--set", "framing.T=99999999999"], ["GiB", "r.npy"]),  # was a MemoryError, exit 3
        (["--set", "run.nokey=1"], ["nokey"]),
        (["--set", "cutoff.eps=nan"], ["cutoff.eps"]),
    ],
)
def test_hostile_settings_through_the_cli(tmp_path, recording, args, words):
    r = run_cli("run", NET, "--input", recording, "--samples", "1", "--report", tmp_path / "r.json", *args, check=False)
    assert r.returncode == 2, (r.returncode, r.stderr[-1500:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not (tmp_path / "r.json").exists()


def test_hostile_config_file_through_the_cli(tmp_path, recording):
    path = _write(tmp_path, "[data]\nsensor = [34, 34, 2, 5]\n")
    r = run_cli("run", NET, "--input", recording, "-c", path, "--report", tmp_path / "r.json", check=False)
    assert r.returncode == 2 and str(path) in r.stderr and "data.sensor" in r.stderr


@pytest.mark.parametrize("raw", [b"\xef\xbb\xbf[run]\nsamples = 3\n", b"[run]\r\nsamples = 3\r\n"])
def test_config_with_a_byte_order_mark_or_crlf_is_read(tmp_path, raw):
    """A UTF-8 byte-order mark (Windows editors) was 'not valid TOML (Invalid statement at line 1, column 1)'."""
    path = tmp_path / "c.toml"
    path.write_bytes(raw)
    assert load_config(path).run.samples == 3
