"""Real event-camera data sets, read through tonic's own Dataset classes.

Every data set lives under a user-given data root in the layout tonic's own
download produces: ``<root>/<tonic class name>/...`` (see each
:class:`DatasetSpec`'s ``expected_layout``). lavacut checks those files itself
before it builds the tonic class, and never lets tonic download unless the
caller passes ``download=True``.

Why the own check: in tonic 1.7 each class's ``_check_exists()`` wants the
downloaded archive (e.g. ``NMNIST/train.zip``) still on disk AND at least the
full number of sample files (10,000 ``.bin`` for N-MNIST); when either is false
its ``__init__`` starts a download. A user who deleted the archive after
unpacking, or who holds a subset, would trigger a multi-GB download (or, with
no network, a urllib error). So when lavacut's check passes the tonic class is
built with its download step switched off for that one construction; reading
and labelling stay tonic's own.

Events come back as tonic returns them: structured arrays with fields
``x, y, t, p`` (t in microseconds), but the field order and integer widths are
each class's own (N-MNIST: all int64, DVS Gesture: x, y, p, t).
:func:`lavacut.data.stream.make_stream` converts to
:data:`lavacut.data.events.EVENT_DTYPE`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

# DATASETS and the N-MNIST reader have homes of their own now; importable from here as before
from lavacut.data.dataset_specs import DATASETS, DatasetSpec  # noqa: F401
from lavacut.data.events import EventFileError
from lavacut.data.formats.aedat4 import rust_panics
from lavacut.data.formats.nmnist_bin import check_atis_size, read_nmnist_file  # noqa: F401
from lavacut.data.tonic_files import check_layout, drop_hidden
from lavacut.util import LavacutError, first_line

#: Seed and held-out fraction of the stratified split made for data sets
#: without an official train/test split (CIFAR10-DVS, N-Caltech101).
SPLIT_SEED = 0
TEST_FRACTION = 0.2

SPLITS = ("train", "test")


# --------------------------------------------------------------------- errors
class TonicDatasetError(LavacutError):
    """A tonic-backed data set could not be opened."""


class UnknownDatasetError(TonicDatasetError, ValueError):
    """The data set name is not registered."""


class DataRootError(TonicDatasetError, ValueError):
    """The data root is not a directory."""


class DatasetFilesMissing(TonicDatasetError, FileNotFoundError):
    """The data set's files are not under the data root."""


class MissingReaderError(TonicDatasetError, ImportError):
    """tonic's reader for this data set needs a package that is not installed."""


# ------------------------------------- file layouts (the data sets: lavacut.data.dataset_specs)
@dataclass(frozen=True)
class _Layout:
    """How to find one data set's files on disk (private: mirrors tonic 1.7).

    ``split_folders`` maps a split to the folder under ``<root>/<ClassName>/``
    that holds it ("" = the class folder itself); ``pattern`` globs sample
    files below that folder; ``archives`` are the files tonic downloads,
    named so an un-extracted download can be pointed out.
    """

    split_folders: dict[str, str]
    pattern: str
    archives: tuple[str, ...]
    split_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    needs_module: str | None = None


_LAYOUTS: dict[str, _Layout] = {
    "nmnist": _Layout(
        split_folders={"train": "Train", "test": "Test"},
        pattern="*/*.bin",
        archives=("train.zip", "test.zip"),
        split_kwargs={"train": {"train": True}, "test": {"train": False}},
    ),
    "dvsgesture": _Layout(
        split_folders={"train": "ibmGestureTrain", "test": "ibmGestureTest"},
        pattern="*/*.npy",
        archives=("ibmGestureTrain.tar.gz", "ibmGestureTest.tar.gz"),
        split_kwargs={"train": {"train": True}, "test": {"train": False}},
    ),
    "cifar10dvs": _Layout(
        split_folders={"all": ""}, pattern="*/*.aedat4", archives=("CIFAR10DVS.zip",), needs_module="aedat"
    ),
    "ncaltech101": _Layout(
        split_folders={"all": "Caltech101"}, pattern="*/*.bin", archives=("N-Caltech101-archive.zip", "Caltech101.zip")
    ),
}


def get_spec(name: str) -> DatasetSpec:
    """The registered :class:`DatasetSpec` for ``name``, or a clear error."""
    spec = DATASETS.get(name)
    if spec is None:
        known = ", ".join(sorted(DATASETS))
        raise UnknownDatasetError(f"unknown data set {name!r}; known data sets: {known}")
    return spec


# -------------------------------------------------------------------- loading
def load_tonic_dataset(
    name: str, root: str | Path, split: str = "train", transform: Callable | None = None, download: bool = False
):
    """Open a registered data set from ``root`` through tonic's own class.

    Returns an object with ``sensor_size``, ``ordering``, ``classes``,
    ``__len__`` and ``__getitem__(i) -> (events, label)`` (integer label, events
    in tonic's structured layout, t in microseconds). For N-MNIST and DVS
    Gesture it is the tonic dataset itself (official split), its samples put in
    file-path order. CIFAR10-DVS and
    N-Caltech101 have no official split: the result is a
    :class:`StratifiedSplit` view of the whole tonic dataset, holding out
    ``TEST_FRACTION`` = 20 % of each class as "test" with seed ``SPLIT_SEED``
    = 0 (files are ordered by path first, so the split does not depend on
    directory listing order); nothing is copied.

    ``transform`` is applied to the events of each sample. With
    ``download=False`` (the default) nothing is ever downloaded: missing files
    raise :class:`DatasetFilesMissing` naming the path searched and the
    expected layout. With ``download=True`` tonic downloads and unpacks the
    data set when lavacut's check finds it missing.
    """
    spec = get_spec(name)
    layout = _LAYOUTS.get(name)
    if layout is None:  # registered elsewhere (e.g. the embedded set), not a tonic set
        raise UnknownDatasetError(
            f"data set {name!r} is not read through tonic; tonic data sets: {', '.join(sorted(_LAYOUTS))}"
        )
    if split not in SPLITS:
        raise TonicDatasetError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    root = _check_root(root)
    folder_split = split if spec.has_split else "all"
    kwargs = dict(layout.split_kwargs.get(folder_split, {}))
    present = _files_present(spec, layout, root, folder_split)
    if not present and not download:
        raise _missing_error(spec, layout, root, folder_split)
    if layout.needs_module and importlib.util.find_spec(layout.needs_module) is None:
        raise MissingReaderError(
            f"{spec.name}: tonic reads {spec.tonic_class_name} with the "
            f"'{layout.needs_module}' package, which is not installed "
            f"(pip install {layout.needs_module})"
        )

    import tonic.datasets

    cls = getattr(tonic.datasets, spec.tonic_class_name)
    # Without an official split the transform belongs to the split view, so that
    # it runs after the view has turned labels into integers.
    tonic_transform = transform if spec.has_split else None
    split_dir = _split_dir(spec, layout, root, folder_split)
    if present:
        check_layout(name, split_dir)
        try:
            dataset = _construct_offline(cls, root, transform=tonic_transform, **kwargs)
        except LavacutError:
            raise
        except Exception as exc:  # noqa: BLE001 - tonic's indexing of files it was not made for
            raise TonicDatasetError(
                f"{split_dir}: tonic's {spec.tonic_class_name} could not index the files there "
                f"({type(exc).__name__}: {first_line(exc)}); expected layout: "
                f"{' / '.join(spec.expected_layout.splitlines()[:2])}"
            ) from None
    else:
        dataset = cls(save_to=str(root), transform=tonic_transform, **kwargs)
        check_layout(name, split_dir)
    drop_hidden(dataset, split_dir, _PER_SAMPLE_LISTS)
    if len(dataset) == 0:
        raise _missing_error(spec, layout, root, folder_split)
    if spec.has_split:
        _order_by_path(dataset)
        return CheckedFiles(dataset, spec)
    view = StratifiedSplit(dataset, split=split, sensor_size=spec.sensor_size, transform=transform)
    if len(view) == 0:
        raise TonicDatasetError(
            f"{split_dir}: the {split} split of {spec.name} is empty: its {len(dataset)} recordings hold no "
            f"class with 2 or more (the stratified split holds out {TEST_FRACTION:.0%} of each class, at least "
            f"one of a class with 2)"
        )
    return CheckedFiles(view, spec)


class CheckedFiles:
    """A tonic data set whose every read is checked and blamed on its file:
    an empty or truncated recording, or any failure of tonic's reader, raises
    :class:`EventFileError` naming the file (tonic would raise a bare
    ValueError or IndexError). ``source_of(i)`` is sample i's file; every
    other attribute is the wrapped data set's."""

    def __init__(self, dataset, spec: DatasetSpec):
        self.dataset = dataset
        self.spec = spec

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str):
        return getattr(self.__dict__["dataset"], name)

    def source_of(self, index: int) -> str:
        ds = self.dataset
        if isinstance(ds, StratifiedSplit):
            return str(ds.base.data[ds.indices[index]])
        return str(ds.data[index])

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        path = Path(self.source_of(index))
        if path.is_file():
            if path.stat().st_size == 0:
                raise EventFileError(f"{path}: empty file (0 bytes), not a {self.spec.name} recording")
            if path.suffix == ".bin":
                check_atis_size(path)
        # tonic reads .aedat4 with the aedat decoder, whose Rust panics are BaseExceptions
        quiet = rust_panics(path) if path.suffix == ".aedat4" else contextlib.nullcontext()
        try:
            with quiet:
                return self.dataset[index]
        except LavacutError:
            raise
        except Exception as exc:  # noqa: BLE001 - tonic's readers raise anything on a damaged file
            raise EventFileError(
                f"{path}: tonic's {self.spec.tonic_class_name} reader failed on it "
                f"({type(exc).__name__}: {first_line(exc)}); "
                f"the file is damaged or not a {self.spec.name} recording"
            ) from None


def _check_root(root: str | Path) -> Path:
    path = Path(root).expanduser()
    if path.exists() and not path.is_dir():
        raise DataRootError(
            f"data root {path} is a file, not a directory; pass the "
            f"directory that holds the data set folders (e.g. <root>/NMNIST)"
        )
    return path


def _split_dir(spec: DatasetSpec, layout: _Layout, root: Path, folder_split: str) -> Path:
    return root / spec.tonic_class_name / layout.split_folders[folder_split]


def _files_present(spec: DatasetSpec, layout: _Layout, root: Path, folder_split: str) -> bool:
    """True if at least one sample file sits where tonic will look for it.

    Deliberately weaker than tonic's own ``_check_exists`` (archive present and
    the full file count): a subset or a deleted archive is fine to read.
    """
    folder = _split_dir(spec, layout, root, folder_split)
    if not folder.is_dir():
        return False
    return next(iter(folder.glob(layout.pattern)), None) is not None


def _missing_error(spec: DatasetSpec, layout: _Layout, root: Path, folder_split: str) -> DatasetFilesMissing:
    folder = _split_dir(spec, layout, root, folder_split)
    split_text = f" ({folder_split} split)" if spec.has_split else ""
    lines = [
        f"{spec.name}{split_text}: no '{layout.pattern.split('/')[-1]}' sample files "
        f"found under {folder} (searched {folder / layout.pattern})."
    ]
    class_dir = root / spec.tonic_class_name
    archives = [class_dir / a for a in layout.archives if (class_dir / a).is_file()]
    if archives:
        lines.append(
            f"Found {', '.join(map(str, archives))} but not unpacked: unpack it "
            f"there, or pass download=True and tonic will unpack it."
        )
    if root.name == spec.tonic_class_name:
        lines.append(f"The data root should be the folder that CONTAINS {spec.tonic_class_name}/; try {root.parent}.")
    lines.append(f"tonic expects this layout under the data root {root}:")
    lines.extend("  " + line for line in spec.expected_layout.splitlines())
    lines.append(
        "To fetch it, pass download=True (CLI: --set data.download=true); tonic then downloads and unpacks it there."
    )
    return DatasetFilesMissing("\n".join(lines))


def _always_exists() -> bool:
    return True


def _refuse_download() -> None:
    raise TonicDatasetError("internal error: tonic tried to download although download=False")


def _construct_offline(cls: type, root: Path, **kwargs: Any):
    """Build tonic's ``cls`` on files already checked present, with its
    existence check and download step shadowed for the constructor only.

    The result is a plain instance of tonic's class: the shadowing instance
    attributes are removed again once ``__init__`` has indexed the files.
    """
    dataset = cls.__new__(cls)
    dataset._check_exists = _always_exists
    dataset.download = _refuse_download
    try:
        cls.__init__(dataset, save_to=str(root), **kwargs)
    finally:
        del dataset._check_exists
        del dataset.download
    return dataset


#: Per-sample parallel lists tonic classes keep (DVSGesture adds users, lighting).
_PER_SAMPLE_LISTS = ("data", "targets", "users", "lighting")


def _order_by_path(dataset) -> None:
    """Put samples in file-path order, in place.

    tonic 1.7's DVSGesture sorts folders but not the files in them, so its
    sample order follows the file system's listing order and differs between
    machines; a seeded shuffle would then differ too.
    """
    paths = [str(p) for p in dataset.data]
    order = sorted(range(len(paths)), key=paths.__getitem__)
    if order == list(range(len(paths))):
        return
    for name in _PER_SAMPLE_LISTS:
        values = getattr(dataset, name, None)
        if isinstance(values, list) and len(values) == len(order):
            setattr(dataset, name, [values[i] for i in order])


# ----------------------------------------------------------- stratified split
class StratifiedSplit:
    """A tonic-style view of one side of a seeded stratified train/test split.

    Wraps a tonic dataset that has ``data`` (one file path per sample) and
    ``targets`` (labels, int or class-name strings); reads samples through the
    wrapped dataset, so nothing is copied. Labels become integers: class-name
    labels are numbered in sorted order of the names present (``classes``).

    Split: samples are ordered by file path, then within each class shuffled by
    ``np.random.default_rng([seed, crc32(class name)])``; the first
    ``round(test_fraction * n)`` (at least 1 and at most n-1 when the class has
    2 or more samples, else 0) are "test", the rest "train". Seeding per class
    keeps each class's split the same whatever other classes are present.
    """

    def __init__(
        self,
        base,
        split: str,
        sensor_size: tuple[int, int, int],
        transform: Callable | None = None,
        seed: int = SPLIT_SEED,
        test_fraction: float = TEST_FRACTION,
    ):
        if split not in SPLITS:
            raise TonicDatasetError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        if not 0.0 < test_fraction < 1.0:
            raise TonicDatasetError(f"test_fraction must be in (0, 1), got {test_fraction}")
        self.base = base
        self.split = split
        self.sensor_size = tuple(sensor_size)
        self.ordering = base.ordering
        self.transform = transform
        self.seed = seed
        self.test_fraction = test_fraction
        raw_targets = list(base.targets)
        names = sorted({str(t) for t in raw_targets})
        if all(isinstance(t, (int, np.integer)) for t in raw_targets):
            self.classes = list(getattr(base, "classes", names))
            self._label_of = {t: int(t) for t in set(raw_targets)}
        else:
            self.classes = names
            self._label_of = {t: names.index(str(t)) for t in set(raw_targets)}
        self.indices = _stratified_indices(list(base.data), raw_targets, split, seed, test_fraction)
        self.targets = [self._label_of[raw_targets[i]] for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        events, raw_label = self.base[self.indices[index]]
        if self.transform is not None:
            events = self.transform(events)
        return events, self._label_of[raw_label]

    def __repr__(self) -> str:
        return (
            f"StratifiedSplit({self.base!r}, split={self.split!r}, "
            f"{len(self)} of {len(self.base)} samples, seed={self.seed})"
        )


def _stratified_indices(
    paths: Sequence[Any], targets: Sequence[Any], split: str, seed: int, test_fraction: float
) -> list[int]:
    # hand-written, not scikit-learn's stratified split: one generator per class name (seeded with it) over
    # path-sorted files keeps each class's split the same whatever other classes the folder holds
    by_class: dict[str, list[int]] = {}
    for i in sorted(range(len(targets)), key=lambda i: str(paths[i])):
        by_class.setdefault(str(targets[i]), []).append(i)
    chosen: list[int] = []
    for name, members in by_class.items():
        rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
        order = [members[j] for j in rng.permutation(len(members))]
        n = len(order)
        n_test = min(max(int(round(test_fraction * n)), 1), n - 1) if n >= 2 else 0
        chosen.extend(order[:n_test] if split == "test" else order[n_test:])
    return sorted(chosen, key=lambda i: str(paths[i]))
