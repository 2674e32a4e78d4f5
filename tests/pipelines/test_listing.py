"""lavacut list and the export description behind lavacut.load."""

from __future__ import annotations

import pytest

from lavacut.cli import main
from lavacut.pipelines.listing import export_info, recipe_description, shipped_recipes
from lavacut.shipped import shipped_file, shipped_names
from lavacut.util import LavacutError


def test_describe_shipped_dense():
    info = export_info(shipped_file("netx_exports", "embedded_dense"))
    assert info.name == "embedded_dense" and info.T == 30
    assert info.layer_summary == "input 2x34x34 -> dense 256 -> dense 10"
    assert info.classes == [str(k) for k in range(10)]
    assert set(info.rules) == {"topk", "confidence", "entropy", "conformal"} and info.default_policy == "topk"
    assert len(info.rules["topk"]["beta"]) == 30
    assert info.readout == "spike counts of layer 2 (10 neurons)"


def test_describe_refuses_a_non_netx_file(tmp_path):
    bad = tmp_path / "text.net"
    bad.write_text("not a network\n")
    with pytest.raises(LavacutError, match="text.net"):
        export_info(bad)


def test_recipe_description_stops_before_a_command(tmp_path):
    toml = tmp_path / "r.toml"
    toml.write_text(
        "# Some data from local files (layout: ROOT/x):\n#   lavacut train -c r.toml\n# More.\nname = 'r'\n"
    )
    assert recipe_description(toml) == "Some data from local files (layout: ROOT/x)."
    toml.write_text("# First sentence here. Second one\n# goes on.\n")
    assert recipe_description(toml) == "First sentence here."
    toml.write_text("name = 'r'\n")
    assert recipe_description(toml) == ""


def test_list_prints_every_shipped_export_and_recipe(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in shipped_names():
        assert f"{name}: " in out
    for r in shipped_recipes():
        assert r.name in out and r.description and r.description in out
    assert "topk (default)" in out
