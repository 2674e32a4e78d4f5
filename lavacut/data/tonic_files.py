"""The sample files of a tonic data set checked against the layout tonic
labels them by, before tonic indexes them.

tonic 1.7 takes a label from a file's place and trusts it: N-MNIST from the
last character of the folder name (``int(path[-1])``: a folder ``10`` is
class 0, ``3 copy`` a ValueError), DVS Gesture from the file name and the
``user<NN>_<lighting>`` folder, CIFAR10-DVS from a fixed class-name table
(another folder: a KeyError), N-Caltech101 from the folder name. Its walk
takes every file whose name ends in the suffix, at any depth, hidden ones
too. So a folder a person copied, renamed or nested, or a macOS ``._x.bin``
beside each recording, is a silently wrong label or a traceback.

:func:`check_layout` refuses any sample file tonic would label other than by
its documented layout, naming the file; hidden files (names starting with
``.``) are skipped here and dropped from the data set by :func:`drop_hidden`,
as they are in a user's own folders; a hidden folder holding sample files is
refused (tonic's indexing takes its name for a class).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lavacut.util import LavacutError


class LayoutError(LavacutError, ValueError):
    """A sample file outside the layout tonic labels by."""


#: tonic's own class names of CIFAR10-DVS (tonic.datasets.CIFAR10DVS.classes)
CIFAR10DVS_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
#: DVS Gesture's file names: the label 0..10
DVS_GESTURES = 11

#: data set -> (the suffix tonic's walk matches with str.endswith, the rule for (folder, file))
_SUFFIX = {"nmnist": "bin", "dvsgesture": "npy", "cifar10dvs": "aedat4", "ncaltech101": "bin"}


def _rule(name: str, folder: str, file: str) -> str | None:
    """Why (folder, file) is not a sample file of data set ``name``, or None."""
    if name == "nmnist" and folder not in [str(d) for d in range(10)]:
        return (
            f"tonic labels an N-MNIST recording by the last character of its folder's name, so "
            f"folder {folder!r} would be {'class ' + folder[-1] if folder[-1:].isdigit() else 'an error'}; "
            f"N-MNIST class folders are 0 .. 9"
        )
    if name == "dvsgesture":
        if not re.fullmatch(r"user\d+_.+", folder):
            return f"tonic reads DVS Gesture folders as user<NN>_<lighting>, not {folder!r}"
        stem = file[: -len(".npy")]
        if not (stem.isascii() and stem.isdigit() and int(stem) < DVS_GESTURES):
            return f"tonic labels a DVS Gesture recording by its file name, 0.npy .. {DVS_GESTURES - 1}.npy"
    if name == "cifar10dvs" and folder not in CIFAR10DVS_CLASSES:
        return f"tonic's CIFAR10-DVS class folders are {', '.join(CIFAR10DVS_CLASSES)}, not {folder!r}"
    return None


def check_layout(name: str, split_dir: Path) -> None:
    """Refuse (:class:`LayoutError`, naming the file) any file under
    ``split_dir`` that tonic would take as a sample of data set ``name``
    but that does not sit at ``<class folder>/<file>`` as its layout says."""
    suffix = _SUFFIX.get(name)
    if suffix is None or not split_dir.is_dir():
        return
    for path, dirs, files in os.walk(split_dir):
        dirs.sort()
        rel = Path(path).relative_to(split_dir).parts
        for file in sorted(files):
            if file.startswith(".") or not file.endswith(suffix):
                continue
            where = Path(path) / file
            hidden = next((p for p in rel if p.startswith(".")), None)
            if hidden is not None:  # tonic walks into hidden folders and labels by their names
                raise LayoutError(
                    f"{where}: in the hidden folder {hidden!r}, which tonic reads as a class folder; "
                    f"move it out of {split_dir} or remove it"
                )
            if len(rel) != 1:
                raise LayoutError(
                    f"{where}: a sample file of {name} must sit in a class folder directly under {split_dir} "
                    f"(tonic labels it by that folder); move or remove it"
                )
            why = _rule(name, rel[0], file)
            if why is not None:
                raise LayoutError(f"{where}: {why}; move, rename or remove it")


def _hidden(path: str, root: Path) -> bool:
    try:
        parts = Path(path).relative_to(root).parts
    except ValueError:
        parts = Path(path).parts
    return any(p.startswith(".") for p in parts)


def drop_hidden(dataset, root: Path, lists: tuple[str, ...]) -> None:
    """Remove, in place, the samples of tonic ``dataset`` whose file (below
    ``root``) is hidden, from each per-sample list named in ``lists``."""
    keep = [i for i, p in enumerate(dataset.data) if not _hidden(str(p), root)]
    if len(keep) == len(dataset.data):
        return
    n = len(dataset.data)
    for name in lists:
        values = getattr(dataset, name, None)
        if isinstance(values, list) and len(values) == n:
            setattr(dataset, name, [values[i] for i in keep])
