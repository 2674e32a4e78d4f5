"""The one validator of NetX files: what ``lavacut run`` (and evaluate,
verify, calibrate, export) refuses, what ``lavacut check`` fails and what
``lavacut inspect`` lists as PROBLEM lines.

Checked in this order, each problem one line naming the layer, dataset or
metadata field:

1. structure, read from the HDF5 headers only (nothing decompressed): a
   ``layer`` group of layer groups ``0``..``n-1``; no external or soft links
   (netx and lavacut would read data from elsewhere, or fail on a dangling
   one), no external or virtual dataset storage; real numbers where netx
   reads numbers (complex ones would lose their imaginary part); integer
   vectors as shapes; weights, conv settings, flatten shapes and the size
   fields netx ignores (inFeatures, kernelSize, ...) that fit the layer and
   the layer before (the kinds' ``weight_shape_problem``); at most
   :data:`MAX_ELEMENTS` elements declared by the datasets together and by
   any layer's ``shape`` (a 200 KB file can declare gigabytes). A file with
   structure problems is not read further.
2. values: NaN or infinite numbers, the ranges netx needs and dense
   weights that are all zero (netx cannot scale them)
   (:func:`lavacut.export.netx.file.layer_problems`).
3. Loihi 2 ranges: the parameter rules of ``lavacut check`` that it reports
   as errors (:data:`lavacut.export.loihi2.rules.RANGE_RULES`: weights, threshold,
   decays, bias, delays); run, evaluate and verify refuse them unless given
   ``--force``.
4. lavacut's metadata (the ``lavacut`` group): JSON of the right types,
   the class names as many as the network has outputs, an ``input_shape``
   of as many inputs as layer 0 reads, a training config that loads,
   calibrations that parse, fit the horizon T and are stored under their
   own rule's name, a data set that is the one its training config runs,
   a ``content_sha256`` whenever there is a calibration, and layers that
   still match it (unless admitted with ``--accept-modified``).

Each dataset is read once per open (:func:`lavacut.export.netx.file.reading_once`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lavacut.export.loihi2.rules import file_range_errors
from lavacut.export.netx.layers import kind_of
from lavacut.export.netx.file import (
    META_GROUP,
    MODIFIED_HINT,
    NetxFileError,
    _check_cutoff,
    default_policy_attr,
    layer_type,
    _open,
    reading_once,
    values,
    content_hash,
    layer_problems,
    store_calibration,
    stored_metadata,
    write_netx,
)
from lavacut.export.netx.inspect import LayerInfo, read_layers

#: the most elements a NetX file may declare: its datasets together, and the
#: neurons of any one layer (20 million; the shipped exports hold 0.05-0.6
#: million, Intel's PilotNet 0.35 million)
MAX_ELEMENTS = 20_000_000
#: datasets of a layer group that hold text; every other one holds real numbers
TEXT_FIELDS = {"type", "neuron/type", "neuron/activation"}
#: layer fields netx casts to int (weights, delays, thresholds and decays
#: too: their integer rules are Loihi range rules, stage 3)
INTEGER_FIELDS = {
    "shape",
    "inFeatures",
    "outFeatures",
    "inChannels",
    "outChannels",
    "kernelSize",
    "stride",
    "padding",
    "dilation",
    "groups",
    "neuron/refDelay",
    "neuron/wgtExp",
}
_MAX_DEPTH = 8  # layer/<n>/neuron/...: deeper groups are not NetX


@dataclass
class Finding:
    """One problem: ``kind`` is structure, value, range or metadata."""

    kind: str
    text: str


# --------------------------------------------------------------------------- 1. structure
def _walk(g, prefix: str, depth: int, out: list[Finding], datasets: dict) -> None:
    """Links and storage of every object below ``g`` (names only: a link is
    never followed); fills ``datasets`` path -> h5py Dataset."""
    import h5py

    for name in g:
        path = f"{prefix}{name}"
        link = g.get(name, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            out.append(
                Finding(
                    "structure",
                    f"{path}: an HDF5 external link (to {link.filename}:{link.path}); "
                    f"a NetX file must hold its data itself",
                )
            )
            continue
        if isinstance(link, h5py.SoftLink):
            target = "dangling" if g.get(name) is None else "to an object elsewhere in the file"
            out.append(
                Finding(
                    "structure",
                    f"{path}: an HDF5 soft link ({target}: {link.path}); a NetX file holds its datasets in place",
                )
            )
            continue
        obj = g.get(name)
        if isinstance(obj, h5py.Group):
            if depth >= _MAX_DEPTH:
                out.append(Finding("structure", f"{path}: groups nested deeper than {_MAX_DEPTH} levels"))
            else:
                _walk(obj, path + "/", depth + 1, out, datasets)
        elif isinstance(obj, h5py.Dataset):
            if obj.external or obj.is_virtual:
                out.append(
                    Finding(
                        "structure",
                        f"{path}: stored outside the file ("
                        f"{'external storage' if obj.external else 'a virtual dataset'})",
                    )
                )
                continue
            datasets[path] = obj
        else:
            out.append(Finding("structure", f"{path}: not a group or dataset ({type(obj).__name__})"))


def size_problem(datasets: dict) -> str:
    """ "" when the datasets (path -> h5py Dataset) declare at most
    :data:`MAX_ELEMENTS` elements together, else the line naming the largest
    (from the headers: nothing is read)."""
    total = sum(_elements(ds.shape) for ds in datasets.values())
    if total <= MAX_ELEMENTS:
        return ""
    big = max(datasets, key=lambda p: _elements(datasets[p].shape))
    return (
        f"{big}: declares {_elements(datasets[big].shape)} elements (shape {datasets[big].shape}; the file "
        f"{total}), beyond lavacut's limit of {MAX_ELEMENTS} per file"
    )


def hdf5_datasets(f) -> tuple[dict, list[str]]:
    """Every dataset of an open HDF5 file by path, and the links and
    storage lavacut refuses (one line each), from the headers only."""
    out: list[Finding] = []
    datasets: dict = {}
    _walk(f, "", 0, out, datasets)
    return datasets, [p.text for p in out]


def _elements(shape) -> int:
    n = 1
    for s in () if shape is None else shape:
        n *= int(s)
    return n


def _small(ds, path: str, out: list[Finding], integer: bool) -> np.ndarray | None:
    """A small numeric dataset's values (None, with a finding, when it is
    not a short vector of real numbers)."""
    if ds.size > 16:
        out.append(Finding("structure", f"{path}: {ds.size} values where netx reads at most a few"))
        return None
    v = np.asarray(values(ds))
    if v.dtype.kind not in "biuf" or (integer and v.size and (not np.all(np.isfinite(v)) or np.any(v != np.round(v)))):
        return None  # reported by the dtype/integer checks
    return v


def _dtype_problem(path: str, ds, field: str) -> str:
    kind = ds.dtype.kind
    if field in TEXT_FIELDS:
        return "" if kind in "SUO" else f"{path}: {ds.dtype} where netx reads text"
    if kind == "c":
        return f"{path}: complex numbers (dtype {ds.dtype}); netx would keep only the real part"
    if kind not in "biuf":
        return f"{path}: not numbers (dtype {ds.dtype})"
    return ""


def structure_problems(f) -> list[Finding]:
    """Structure, types, declared sizes and shapes of an open NetX file,
    from the headers and the few small datasets (shapes, conv settings)."""
    import h5py

    out: list[Finding] = []
    if "layer" not in f:
        return [Finding("structure", "no 'layer' group: not a NetX network file")]
    datasets: dict = {}
    _walk(f, "", 0, out, datasets)
    if out:
        return out
    layer = f["layer"]
    if not isinstance(layer, h5py.Group):
        return [Finding("structure", "'layer' is a dataset, not a group of layers: not a NetX network file")]
    too_big = size_problem(datasets)
    if too_big:
        return [Finding("structure", too_big)]
    keys = list(layer)
    if not keys:
        return [Finding("structure", "the 'layer' group has no layers")]
    if sorted(keys, key=lambda k: (not k.isdigit(), k.zfill(9))) != [str(i) for i in range(len(keys))]:
        return [
            Finding(
                "structure",
                f"layer groups are named {sorted(keys)[:8]}: netx reads layers '0'..'{len(keys) - 1}' in order",
            )
        ]
    for p, ds in datasets.items():
        if p.startswith("layer/"):
            parts = p.split("/")
            field = "/".join(parts[2:])
            problem = _dtype_problem(p, ds, field)
            if problem:
                out.append(Finding("structure", problem))
            elif field in INTEGER_FIELDS and ds.size <= 16 and ds.dtype.kind == "f":
                v = np.asarray(values(ds))
                if not np.all(np.isfinite(v)) or np.any(v != np.round(v)):
                    out.append(Finding("structure", f"{p}: {v.tolist()} where netx reads integers"))
    if out:
        return out
    prev = None  # the previous layer's shape
    for k in map(str, range(len(keys))):
        g = layer[k]
        where = f"layer/{k}"
        if not isinstance(g, h5py.Group):
            out.append(Finding("structure", f"{where}: a dataset, not a layer group"))
            continue
        if "type" not in g or not isinstance(g["type"], h5py.Dataset):
            out.append(Finding("structure", f"{where}: no 'type' dataset"))
            continue
        if "shape" not in g:
            out.append(Finding("structure", f"{where}: no 'shape' dataset (netx sizes every layer from it)"))
            continue
        if "neuron" in g and isinstance(g["neuron"], h5py.Group) and "type" not in g["neuron"]:
            out.append(Finding("structure", f"{where}/neuron: no 'type' dataset (netx reads the neuron type)"))
        shape = _small(g["shape"], f"{where}/shape", out, integer=True)
        if shape is None:
            continue
        shape = tuple(int(s) for s in np.atleast_1d(shape))
        if not 1 <= len(shape) <= 3 or min(shape) < 1:
            out.append(Finding("structure", f"{where}/shape: {list(shape)} is not 1 to 3 positive sizes"))
            continue
        if _elements(shape) > MAX_ELEMENTS:
            out.append(
                Finding(
                    "structure",
                    f"{where}/shape: declares {_elements(shape)} elements ({list(shape)} "
                    f"neurons), beyond lavacut's limit of {MAX_ELEMENTS} per file",
                )
            )
            continue
        out += _weight_shape_problems(g, where, layer_type(g), shape, prev)
        prev = shape
    return out


def _weight_shape_problems(g, where: str, t: str, shape: tuple, prev: tuple | None) -> list[Finding]:
    """Weights (or a reshape) that do not fit the layer's shape or the layer before (its kind says how)."""
    kind = kind_of(t)
    if not kind.reshape_only and ("weight" not in g or not hasattr(g["weight"], "shape") or not kind.synaptic):
        return []
    bad = kind.weight_shape_problem(g, shape, prev)
    return [Finding("structure", f"{where}/{bad}")] if bad else []


# --------------------------------------------------------------------------- 4. metadata
def _known_datasets() -> set[str]:
    from lavacut.data.sources import EMBEDDED
    from lavacut.data.tonic_sets import DATASETS

    return {EMBEDDED, *DATASETS}


def metadata_problems(f, path, check_hash: bool = True) -> list[Finding]:
    """lavacut's ``meta`` JSON and calibrations (none for a foreign file)."""
    if META_GROUP not in f:
        return []
    g = f[META_GROUP]
    out: list[Finding] = []

    def bad(text):
        out.append(Finding("metadata", text))

    try:
        meta = json.loads(g.attrs["meta"])
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        return [Finding("metadata", f"lavacut/meta is missing or not JSON ({exc})")]
    if not isinstance(meta, dict):
        return [Finding("metadata", f"lavacut/meta is not a JSON object (got {type(meta).__name__})")]
    for key, types, what in (
        ("name", (str,), "a string"),
        ("dataset", (str, type(None)), "a string"),
        ("train_config", (dict, type(None)), "an object (the training config)"),
        ("spec", (dict, type(None)), "an object (the NetSpec)"),
        ("accuracy", (dict, type(None)), "an object"),
        ("classes", (list, type(None)), "a list of class names"),
        ("input_shape", (list, type(None)), "a list of sizes"),
        ("content_sha256", (str, type(None)), "a hex string"),
    ):
        if key in meta and not isinstance(meta[key], types):
            bad(f"lavacut/meta {key}: must be {what}, got {type(meta[key]).__name__} {str(meta[key])[:40]!r}")
    shape = meta.get("input_shape")
    if isinstance(shape, list) and not (
        shape and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)
    ):
        bad(f"lavacut/meta input_shape: {shape!r} is not a list of positive sizes")
    elif isinstance(shape, list):
        got = _first_layer_inputs(f)
        if got and got != _elements(shape):
            bad(f"lavacut/meta input_shape: {shape} is {_elements(shape)} inputs per step, but layer 0 reads {got}")
    classes = meta.get("classes")
    if isinstance(classes, list) and not all(isinstance(c, str) for c in classes):
        bad(f"lavacut/meta classes: {str(classes)[:60]} is not a list of class names (text)")
    outputs = _outputs(f)
    if isinstance(classes, list) and outputs and len(classes) != outputs:
        bad(f"lavacut/meta classes: {len(classes)} names for {outputs} outputs of the last layer")
    ds, tc = meta.get("dataset"), meta.get("train_config")
    if isinstance(tc, dict) and tc:  # what run, calibrate and evaluate configure from
        from lavacut.config import RunConfig
        from lavacut.util import LavacutError

        try:
            RunConfig.from_dict(dict(tc), source="lavacut/meta train_config")
        except LavacutError as exc:
            text = str(exc)
            bad(text if text.startswith("lavacut/meta train_config") else f"lavacut/meta train_config: {text}")
    run_ds = (
        (tc.get("data") or {}).get("dataset") if isinstance(tc, dict) and isinstance(tc.get("data"), dict) else None
    )
    if isinstance(ds, str) and run_ds is not None and ds != run_ds:
        bad(f"lavacut/meta dataset: {ds!r} is not the data set its train_config runs ({run_ds!r})")
    elif isinstance(ds, str) and isinstance(tc, dict) and tc.get("data") and ds not in _known_datasets():
        bad(f"lavacut/meta dataset: unknown data set {ds!r} (known: {', '.join(sorted(_known_datasets()))})")
    cutoff = {}
    if "cutoff" in g:
        for name in g["cutoff"]:
            try:
                cutoff[name] = json.loads(g["cutoff"][name].attrs["params"])
            except (KeyError, TypeError, json.JSONDecodeError):
                bad(f"lavacut/cutoff/{name}/params is missing or not JSON")
    if out:
        return out
    try:
        default = default_policy_attr(g["cutoff"], path) if "cutoff" in g else None
        _check_cutoff(path, {**meta, "cutoff": cutoff, "default_policy": default})
    except NetxFileError as exc:
        bad(str(exc).removeprefix(f"{path}: "))
    if cutoff and not meta.get("content_sha256"):
        bad(
            "lavacut/meta content_sha256: missing while the file holds calibrations; without it lavacut cannot "
            "tell whether the layers were changed since they were calibrated (re-export the checkpoint)"
        )
    elif check_hash and meta.get("content_sha256") and meta["content_sha256"] != content_hash(f):
        bad(
            f"the layers were modified after export (they no longer match the content_sha256 stored by lavacut, "
            f"so its calibration and accuracy no longer apply); {MODIFIED_HINT}"
        )
    return out


def _first_layer_inputs(f) -> int:
    """Inputs per step of the first layer (0: not told by its datasets): an
    input layer's neurons, a dense layer's weight columns."""
    g = f["layer"].get("0")
    if g is None or "shape" not in g:
        return 0
    if layer_type(g) == "input":
        return _elements(np.atleast_1d(values(g["shape"])))
    if layer_type(g) == "dense" and "weight" in g and len(g["weight"].shape) == 2:
        return int(g["weight"].shape[1])
    return 0


def _outputs(f) -> int:
    """Outputs of the last layer (its neurons, or an average readout's groups)."""
    keys = list(f["layer"])
    if not keys:
        return 0
    last = f["layer"][str(len(keys) - 1)]
    return _elements(np.atleast_1d(values(last["shape"]))) if "shape" in last else 0


# --------------------------------------------------------------------------- all of it
def problems(path: str | Path, check_hash: bool = True, ranges: bool = True) -> list[Finding]:
    """Every problem of the NetX file ``path``, in the order of the module
    doc; [] for a file ``lavacut run`` accepts (layers it cannot run aside:
    :func:`lavacut.export.netx.inspect.mark_support`)."""
    with _open(path) as f, reading_once():
        return file_problems(f, path, check_hash, ranges)[0]


def file_problems(
    f, path: str | Path, check_hash: bool = True, ranges: bool = True
) -> tuple[list[Finding], list[LayerInfo] | None]:
    """:func:`problems` of the open NetX file ``f`` (``path`` names it), and
    the layers the range rules read (None when they were not read: structure
    or value problems, or no ``ranges``)."""
    out = structure_problems(f)
    if out:
        return out, None
    out += [Finding("value", p) for p in layer_problems(f)]
    out += metadata_problems(f, path, check_hash)
    if not ranges or any(p.kind == "value" for p in out):
        return out, None
    layers = read_layers(f, path)
    return out + [Finding("range", p) for p in file_range_errors(f, layers)], layers


FORCE_HINT = (
    "a violation of Loihi 2's ranges ('lavacut check' lists them; --force runs it anyway, as netx and Lava compute it)"
)


def require_valid(path: str | Path, check_hash: bool = True, force: bool = False, ranges: bool = True) -> list[str]:
    """Raise :class:`NetxFileError` naming every problem of ``path``, one
    line; with ``force``, Loihi range violations are returned (to be warned
    about) instead."""
    with _open(path) as f, reading_once():
        return require_valid_file(f, path, check_hash, force, ranges)[0]


def require_valid_file(
    f, path: str | Path, check_hash: bool = True, force: bool = False, ranges: bool = True
) -> tuple[list[str], list[LayerInfo] | None]:
    """:func:`require_valid` of the open NetX file ``f`` (``path`` names
    it), and the layers it read (:func:`file_problems`)."""
    found, layers = file_problems(f, path, check_hash, ranges)
    hard = [p for p in found if p.kind != "range" or not force]
    if hard:
        tail = (
            f" ({FORCE_HINT})"
            if all(p.kind == "range" for p in hard)
            else ""
            if all(p.kind == "metadata" for p in hard)
            else " (the file cannot be run; re-export it)"
        )
        raise NetxFileError(f"{path}: " + "; ".join(p.text for p in hard) + tail)
    return [p.text for p in found if p.kind == "range"], layers


# --------------------------------------------------------------------------- validated reads and writes
def read_metadata(path: str | Path, check_layers: bool = True, check_hash: bool = True) -> dict[str, Any] | None:
    """The ``meta`` dict of a lavacut export, with ``cutoff`` (dict name ->
    params) and ``default_policy`` added; None for a NetX file lavacut did not
    write. Bad metadata raises :class:`NetxFileError` naming the field; so do,
    with ``check_layers``, every problem of the validator
    (:func:`require_valid`: structure, sizes, types, values, Loihi ranges)
    and, for lavacut's own files, layers changed after export
    (``check_hash``)."""
    with _open(path) as f, reading_once():
        if check_layers:
            require_valid_file(f, path, check_hash=check_hash)
        # the validator compared the hash already: hashing reads every layer
        return stored_metadata(f, path, check_hash=check_hash and not check_layers)


def write_export(
    net,
    path: str | Path,
    meta: dict[str, Any],
    cutoff: dict[str, dict] | None = None,
    default_policy: str | None = None,
) -> Path:
    """Export a SLAYER net (see :func:`lavacut.export.slayer_hdf5.export_hdf5`)
    with lavacut metadata, atomically; the written file is validated before
    it replaces anything (the ranges are export's warnings)."""
    return write_netx(net, path, meta, cutoff, default_policy, check=lambda tmp: require_valid(tmp, ranges=False))


def write_calibration(
    path: str | Path,
    cutoff: dict[str, dict],
    default_policy: str | None = None,
    extra_meta: dict[str, Any] | None = None,
    base_meta: dict[str, Any] | None = None,
    accept_modified: bool = False,
) -> None:
    """Store calibrated stop rules in an export (copy, modify, replace;
    :func:`lavacut.export.netx.file.store_calibration`), the export and what
    was written validated by :func:`read_metadata`."""
    store_calibration(path, cutoff, default_policy, extra_meta, base_meta, accept_modified, read=read_metadata)
