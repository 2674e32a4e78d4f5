"""Labels of a user's input checked against the network they run on.

Class folders are matched to the network's classes by name (the export's
``classes``), numeric folder names to class indices, and a folder that names
no class is refused unless ``data.label_map`` maps it; sorted folder order
(torchvision's ImageFolder) only when the network has no class names and no
folder name is a number. ``.npz`` labels must lie in the network's class
range and its ``classes`` must have one name per output. Calibration needs a
minimum of labelled samples (:func:`check_calibration_labels`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lavacut.data.input_errors import LabelError

#: fewest labelled samples ``lavacut calibrate --input`` accepts in all: the
#: per-step Top-K beta and the temperature are quantiles / fits over the
#: samples, and SpikeCP's conformal rank ceil((1 - alpha)(n + 1)) is finite
#: only from n = 1/alpha - 1 = 19 samples at the default alpha 0.05
MIN_CALIBRATION_SAMPLES = 20


def _numeric(name: str) -> int | None:
    # ASCII digits only: str.isdigit() also takes '²' (which int() refuses) and other scripts' digits
    return int(name) if name.isascii() and name.isdigit() else None


def _toml_key(name: str) -> str:
    """``name`` as a TOML key: bare where TOML allows, else quoted."""
    import re

    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else '"' + name.replace('"', '\\"') + '"'


def _digits(classes: Sequence[str]) -> bool:
    return all(c == str(i) for i, c in enumerate(classes))


def _class_list(classes: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(classes[:limit])
    return shown + (f", ... ({len(classes)} classes)" if len(classes) > limit else "")


def _map_target(folder: str, value: Any, classes: Sequence[str] | None, n_classes: int | None, source: str) -> int:
    """The class index a ``data.label_map`` value names (an index or a class name)."""
    if isinstance(value, str) and classes is not None and value in classes:
        return classes.index(value)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0 or (n_classes is not None and value >= n_classes):
            raise LabelError(
                f"{source}: data.label_map maps {folder!r} to {value}, outside the network's "
                f"{n_classes} classes (0..{(n_classes or 1) - 1})"
            )
        return value
    raise LabelError(
        f"{source}: data.label_map maps {folder!r} to {value!r}, which is neither a class index "
        f"nor one of the network's classes" + (f" ({_class_list(list(classes))})" if classes else "")
    )


def folder_labels(
    folders: Sequence[str], classes: Sequence[str] | None, n_classes: int | None, label_map: dict | None, source: str
) -> tuple[list[int], list[str] | None, dict]:
    """Labels of class folders ``folders`` (sorted) for a network with class
    names ``classes`` (or None) and ``n_classes`` outputs (None: unknown).

    Returns (label per folder, the class names of the split, the report's
    ``label_mapping``: {"rule", "map"})."""
    folders = list(folders)
    if label_map is not None and not isinstance(label_map, dict):
        raise LabelError(
            f"data.label_map must be a table of folder = class, e.g. --set "
            f"'data.label_map={{cars=3, background=0}}', got {label_map!r}"
        )
    label_map = dict(label_map or {})
    if classes is not None:
        classes = [str(c) for c in classes]
        n_classes = len(classes) if n_classes is None else n_classes
    unknown = sorted(set(label_map) - set(folders))
    if unknown:
        raise LabelError(
            f"{source}: data.label_map names {', '.join(map(repr, unknown))}, not a class folder "
            f"here (folders: {', '.join(folders)})"
        )
    mapped = {f: _map_target(f, v, classes, n_classes, source) for f, v in label_map.items()}
    rest = [f for f in folders if f not in mapped]
    numeric = {f: _numeric(f) for f in rest}
    out: dict[str, int] = dict(mapped)
    if classes is not None:
        rule = "by class name"
        digits = _digits(classes)
        unmatched = []
        for f in rest:
            if f in classes:
                out[f] = classes.index(f)
            elif digits and numeric[f] is not None and numeric[f] < len(classes):
                out[f] = numeric[f]
            else:
                unmatched.append(f)
        if unmatched:
            one = len(unmatched) == 1
            raise LabelError(
                f"{source}: class folder{'' if one else 's'} {', '.join(map(repr, unmatched))} "
                f"name{'s' if one else ''} none of the network's classes ({_class_list(classes)}); "
                f"rename {'it' if one else 'them'}, or map {'it' if one else 'them'}: --set "
                f"'data.label_map={{{', '.join(_toml_key(f) + '=N' for f in unmatched)}}}' "
                f"(N: a class index 0..{len(classes) - 1}, or a class name in double quotes)"
            )
        split_classes = classes
    elif rest and all(v is not None for v in numeric.values()):
        rule = "numeric folder names"
        for f in rest:
            if n_classes is not None and numeric[f] >= n_classes:
                raise LabelError(
                    f"{source}: class folder {f!r} is class {numeric[f]}, but the network has "
                    f"{n_classes} outputs (classes 0..{n_classes - 1})"
                )
            out[f] = numeric[f]
        split_classes = [str(i) for i in range(n_classes)] if n_classes is not None else None
    elif any(v is not None for v in numeric.values()):
        num = next(f for f in rest if numeric[f] is not None)
        txt = next(f for f in rest if numeric[f] is None)
        raise LabelError(
            f"{source}: class folders mix numbers ({num!r}) and names ({txt!r}); the network has no "
            f"class names to match them: name them all by class index, or map them with --set "
            f"'data.label_map={{{_toml_key(txt)}=N}}' (N: a class index)"
        )
    else:
        rule = "folder order"  # ImageFolder: sorted names -> 0, 1, ...
        if n_classes is not None and len(folders) > n_classes:
            raise LabelError(f"{source}: {len(folders)} class folders for a network with {n_classes} outputs")
        free = [i for i in range(len(folders) + len(mapped)) if i not in mapped.values()]
        out.update(zip(rest, free))
        split_classes = None if mapped or n_classes is not None else list(folders)
    if mapped:
        rule += f", data.label_map for {', '.join(sorted(mapped))}"
    if split_classes is None and n_classes is not None:  # names where the folders give them
        split_classes = [str(i) for i in range(n_classes)]
        if rule.startswith("folder order"):
            for f in folders:
                split_classes[out[f]] = f
    return [out[f] for f in folders], split_classes, {"rule": rule, "map": {f: out[f] for f in folders}}


def check_labels_range(labels: np.ndarray, n_classes: int, source: str) -> None:
    """Every label a class index of a network with ``n_classes`` outputs."""
    bad = (labels < 0) | (labels >= n_classes)
    if bad.any():
        raise LabelError(
            f"{source}: {int(bad.sum())} labels outside the network's {n_classes} classes "
            f"(valid 0..{n_classes - 1}; found {sorted(set(labels[bad].tolist()))[:5]})"
        )


def check_class_names(names: Sequence[str], n_classes: int, source: str) -> None:
    if len(names) != n_classes:
        raise LabelError(
            f"{source}: 'classes' holds {len(names)} names but the network has {n_classes} "
            f"outputs: one name per output, in output order"
        )


def check_calibration_labels(labels: np.ndarray | None, holdout_per_class: bool, source: str) -> None:
    """Refuse labelled input too small to calibrate on (see
    :data:`MIN_CALIBRATION_SAMPLES`); ``holdout_per_class``: a validation
    hold-out takes one sample of every class, so each class needs two."""
    if labels is None:
        return
    n = len(labels)
    values, counts = np.unique(labels, return_counts=True)
    single = [int(v) for v, c in zip(values, counts) if c < 2] if holdout_per_class else []
    if n < MIN_CALIBRATION_SAMPLES or single:
        why = (
            f"{n} labelled sample{'s' if n != 1 else ''}"
            if n < MIN_CALIBRATION_SAMPLES
            else f"class(es) {single[:5]} with one sample"
        )
        raise LabelError(
            f"{source}: {why}: calibration needs at least {MIN_CALIBRATION_SAMPLES} labelled samples"
            + (
                " and 2 of every class (one goes to the validation hold-out that sets the conformal "
                "thresholds, the others fit the temperature and Top-K's per-step beta)"
                if holdout_per_class
                else ""
            )
            + "; fewer would store thresholds fitted on almost nothing"
        )
