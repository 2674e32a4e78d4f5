"""What a NetX file holds, in a few fields (:class:`ExportInfo`), and what
lavacut ships: the exports of ``netx_exports/`` and the recipes of ``sims/``
(``lavacut list``; :func:`lavacut.load` returns an :class:`ExportInfo`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lavacut.export.netx.inspect import LayerInfo, inspect_layers
from lavacut.export.validate import read_metadata
from lavacut.shipped import KINDS, shipped_dir


@dataclass
class ExportInfo:
    """A NetX file described: its layers (as ``lavacut inspect`` reads them
    from the file), classes, time steps, how the decision is read out, and
    the stop rules calibrated into it. ``meta`` is lavacut's metadata, None
    for a file lavacut did not write."""

    path: Path
    name: str
    layers: list[LayerInfo]
    classes: list[str] | None
    T: int | None
    readout: str
    calibration: dict[str, Any] | None
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_policy: str | None = None
    accuracy: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None

    @property
    def layer_summary(self) -> str:
        """``input 2x34x34 -> dense 256 -> dense 10``."""
        return " -> ".join(f"{L.type} {'x'.join(str(s) for s in L.shape)}" for L in self.layers)

    def format(self) -> str:
        rules = ", ".join(f"{r}{' (default)' if r == self.default_policy else ''}" for r in sorted(self.rules))
        lines = [
            f"{self.name}: {self.path}",
            f"  layers   {self.layer_summary}" + (f", T = {self.T}" if self.T else ""),
            f"  classes  {', '.join(self.classes) if self.classes else 'not recorded'}",
            f"  readout  {self.readout}",
            f"  rules    {rules or 'none calibrated (lavacut calibrate)'}",
        ]
        return "\n".join(lines)


def export_info(path: str | Path) -> ExportInfo:
    """Read and validate ``path`` (a NetX file) and describe it."""
    path = Path(path)
    meta = read_metadata(path)  # validates the file (one-line LavacutError otherwise)
    layers = inspect_layers(path)
    meta_or_empty = meta or {}
    readout = next((L.role for L in layers if L.role.startswith("readout")), "")
    if not readout:
        last = next((L for L in reversed(layers) if L.neurons), None)
        readout = f"spike counts of layer {last.index} ({last.neurons} neurons)" if last else "unknown"
    framing = meta_or_empty.get("framing") or {}
    return ExportInfo(
        path=path,
        name=meta_or_empty.get("name") or path.stem,
        layers=layers,
        classes=meta_or_empty.get("classes"),
        T=framing.get("T"),
        readout=readout,
        calibration=meta_or_empty.get("calibration"),
        rules=dict(meta_or_empty.get("cutoff") or {}),
        default_policy=meta_or_empty.get("default_policy"),
        accuracy=meta_or_empty.get("accuracy"),
        meta=meta,
    )


@dataclass
class Recipe:
    name: str
    path: Path
    description: str


def recipe_description(path: Path) -> str:
    """The first sentence of a recipe's leading comment block (a line ending
    in ':' ends it too: what follows is a command to copy)."""
    words: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        text = line[1:].strip()
        if line[1:].startswith("   ") or not text:  # an indented command line or a blank comment
            break
        words.append(text)
        if text.endswith((".", ":")):
            break
    joined = " ".join(words)
    sentence = joined.split(". ")[0]
    return sentence.rstrip(":.") + ("." if sentence else "")


def shipped_exports() -> list[ExportInfo]:
    return [export_info(p) for p in sorted(shipped_dir("netx_exports").glob(KINDS["netx_exports"]))]


def shipped_recipes() -> list[Recipe]:
    return [Recipe(p.stem, p, recipe_description(p)) for p in sorted(shipped_dir("sims").glob(KINDS["sims"]))]


def format_listing() -> str:
    exports = shipped_exports()
    recipes = shipped_recipes()
    width = max((len(r.name) for r in recipes), default=0)
    lines = [f"Shipped exports ({shipped_dir('netx_exports')}; give a name or a path to run, evaluate, ...):"]
    for e in exports:
        lines += ["", e.format()]
    lines += ["", f"Recipes ({shipped_dir('sims')}; lavacut train -c <file>):", ""]
    lines += [f"  {r.name:<{width}}  {r.description}" for r in recipes]
    return "\n".join(lines)
