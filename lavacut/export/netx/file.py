"""NetX HDF5 files with lavacut metadata.

A lavacut export is a stock NetX network file (a ``layer`` group that
``lava.lib.dl.netx.hdf5.Network`` loads unchanged) plus a top-level
``lavacut`` group that stock NetX never reads:

- attribute ``meta``: JSON with ``format``, ``name``, ``sensor_size`` (W, H, P),
  ``input_shape`` (C, H, W), ``framing`` (bin_us, T, ...), ``classes``,
  ``dataset``, ``train_config``, ``accuracy`` (test, full T, SLAYER),
  ``versions``, ``spec`` (NetSpec) and ``content_sha256`` (hash of the
  ``layer`` group: weights and neuron parameters);
- subgroup ``cutoff``: one subgroup per calibrated stop rule
  (``topk``, ``confidence``, ...), each with attribute ``params`` (JSON of
  :meth:`lavacut.cutoff.rules.StopRule.params`, arrays included) and
  attribute ``default`` on the ``cutoff`` group naming the rule
  ``lavacut run`` uses without flags.

Every write goes to a temporary file that replaces the target only when
complete (NetX keeps its file open while a Network lives, so files are never
rewritten in place).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lavacut.cutoff.rules import RULES, rule_from_params
from lavacut.fixed_point import P_SCALE, W_MANT_MAX, W_MANT_MIN
from lavacut.locks import folder_lock
from lavacut.util import LavacutError, atomic_path, first_line, json_text, versions

META_GROUP = "lavacut"
FORMAT = 1


class NetxFileError(LavacutError, ValueError):
    """A .net file that is not HDF5, not NetX, or has bad lavacut metadata."""


#: the values read in the innermost :func:`reading_once` block, by dataset (None: outside one)
_READ: contextvars.ContextVar[dict | None] = contextvars.ContextVar("netx_read_once", default=None)


@contextlib.contextmanager
def reading_once():
    """Within the block every :func:`values` of a dataset reads (and
    decompresses) it once: the validator, the hash, the layers and the range
    rules share what one open read. Leave it before the file closes."""
    token = _READ.set({})
    try:
        yield
    finally:
        _READ.reset(token)


def values(ds):
    """``ds[()]``, read once per :func:`reading_once` block (arrays then come
    back read-only: every reader gets the same one)."""
    cache = _READ.get()
    if cache is None:
        return ds[()]
    key = ds.id  # h5py compares object ids by file and address: two handles of one dataset are equal
    if key not in cache:
        v = ds[()]
        if isinstance(v, np.ndarray):
            v.flags.writeable = False
        cache[key] = v
    return cache[key]


IMPORT_HINT = "convert it with 'lavacut import {path}' (it writes a NetX export)"


def is_nir_graph(f) -> bool:
    """The open HDF5 file ``f`` is a NIR graph (``nir.write``'s layout: a
    ``node`` group with ``nodes`` and ``edges``), whatever its name."""
    import h5py

    node = f.get("node")
    return isinstance(node, h5py.Group) and "nodes" in node and "edges" in node


def not_netx_error(f, path) -> NetxFileError:
    """The error for an HDF5 file without a ``layer`` group: a NIR graph is
    named as such, with the command that converts it."""
    if is_nir_graph(f):
        return NetxFileError(f"{path}: a NIR graph, not a NetX file; {IMPORT_HINT.format(path=path)}")
    return NetxFileError(f"{path}: no 'layer' group: not a NetX network file")


def _open(path: str | Path, mode: str = "r"):
    """``path`` opened with h5py; for reading, only a NetX file (one with a
    ``layer`` group): every command that reads NetX refuses the same files
    with the same words."""
    import h5py

    path = Path(path)
    if path.is_dir():
        raise NetxFileError(f"{path} is a folder; give a NetX .net file")
    if path.is_symlink() and not path.exists():
        raise NetxFileError(f"{path}: a symbolic link to nothing (dangling, or a loop of links)")
    if not path.is_file():
        raise NetxFileError(f"{path}: no such file")
    try:
        f = h5py.File(path, mode)
    except OSError as exc:
        raise NetxFileError(f"{path}: not an HDF5 file ({first_line(exc)})") from None
    if mode == "r" and "layer" not in f:
        err = not_netx_error(f, path)
        f.close()
        raise err
    return f


def content_hash(f) -> str:
    """SHA-256 over every dataset of the ``layer`` group (names, dtypes, shapes, bytes)."""
    h = hashlib.sha256()

    def visit(name, obj):
        import h5py

        if isinstance(obj, h5py.Dataset):
            arr = np.asarray(values(obj))
            h.update(name.encode())
            h.update(str(arr.dtype).encode() + str(arr.shape).encode())
            h.update(arr.tobytes())

    if "layer" not in f:
        raise not_netx_error(f, f.filename)
    f["layer"].visititems(visit)
    return h.hexdigest()


def _layer_keys(f) -> list[str]:
    return sorted(f["layer"].keys(), key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else k))


def layer_problems(f) -> list[str]:
    """Why the numbers in a NetX file's ``layer`` group cannot be run
    ("" list = they can): NaN or infinite weights, biases, delays or neuron
    parameters; weights outside Loihi's signed 8-bit mantissa range
    ([W_MANT_MIN, W_MANT_MAX] after netx's int cast); decays outside 0..P_SCALE; negative
    thresholds. Each names the layer and field."""
    import h5py

    out = []
    for key in _layer_keys(f):
        g = f["layer"][key]
        if not isinstance(g, h5py.Group):
            continue
        for name in ("weight", "weight_rec", "bias", "delay"):
            if name not in g or not isinstance(g[name], h5py.Dataset):
                continue
            try:
                v = np.asarray(values(g[name]), dtype=np.float64)
            except (TypeError, ValueError):
                out.append(f"layer {key} {name} is not numeric (dtype {g[name].dtype})")
                continue
            if not np.all(np.isfinite(v)):
                out.append(f"layer {key} {name} contains NaN or infinite values")
            elif name.startswith("weight") and v.size and (v.min() < W_MANT_MIN or v.max() > W_MANT_MAX):
                out.append(
                    f"layer {key} {name} has values in [{v.min():g}, {v.max():g}], outside the "
                    f"8-bit weight mantissa range [{W_MANT_MIN}, {W_MANT_MAX}]"
                )
            elif name == "delay" and v.size and v.min() < 0:
                out.append(f"layer {key} delay has negative values (min {v.min():g})")
            elif name == "weight" and v.size and not v.any() and _netx_scales_weights(g):
                out.append(
                    f"layer {key} weight is all zeros: netx cannot build the layer (its weight scaling, "
                    f"lava-dl netx/utils.py optimize_weight_bits, divides by the largest weight) and it "
                    f"would pass nothing on"
                )
        if "neuron" in g and isinstance(g["neuron"], h5py.Group):
            for name in ("vThMant", "iDecay", "vDecay", "refDelay"):
                if name not in g["neuron"]:
                    continue
                try:
                    v = np.asarray(values(g["neuron"][name]), dtype=np.float64)
                except (TypeError, ValueError):
                    out.append(f"layer {key} neuron {name} is not numeric")
                    continue
                if not np.all(np.isfinite(v)):
                    out.append(f"layer {key} neuron {name} is NaN or infinite")
                elif name in ("iDecay", "vDecay") and (v.min() < 0 or v.max() > P_SCALE):
                    out.append(f"layer {key} neuron {name} is {v.min():g}..{v.max():g}, outside 0..{P_SCALE}")
                elif name == "vThMant" and v.min() < 0:
                    out.append(f"layer {key} neuron vThMant is negative ({v.min():g})")
    return out


def layer_type(g) -> str:
    """The ``type`` text of a layer group ("" when it has none)."""
    t = np.asarray(values(g["type"])).reshape(-1) if "type" in g else np.array([])
    return t[0].decode() if t.size and isinstance(t[0], bytes) else (str(t[0]) if t.size else "")


def _netx_scales_weights(g) -> bool:
    """netx scales the layer's weights to Loihi's format when building it
    (dense layers, their recurrent weights included; lava-dl netx/hdf5.py
    create_dense), failing on a layer whose weights are all zero."""
    if layer_type(g) not in ("dense", "dense_rec"):
        return False
    return "weight_rec" not in g or not np.asarray(values(g["weight_rec"]), dtype=np.float64).any()


def check_weights(f) -> None:
    """Raise :class:`NetxFileError` naming the first bad layer field (see
    :func:`layer_problems`)."""
    problems = layer_problems(f)
    if problems:
        raise NetxFileError(f"{f.filename}: " + "; ".join(problems))


def modified_after_export(f, meta: dict) -> bool:
    """True when the layers no longer hash to the ``content_sha256`` lavacut
    stored when it wrote the file (weights or neurons edited since)."""
    stored = meta.get("content_sha256")
    return bool(stored) and stored != content_hash(f)


MODIFIED_HINT = (
    "re-export it from its checkpoint ('lavacut export'), or, if the layers were changed on purpose, "
    "recalibrate it for the new layers with 'lavacut calibrate FILE --accept-modified'"
)


def write_netx(
    net,
    path: str | Path,
    meta: dict[str, Any],
    cutoff: dict[str, dict] | None = None,
    default_policy: str | None = None,
    *,
    check: Callable[[Path], Any],
) -> Path:
    """Export a SLAYER net (see :func:`lavacut.export.slayer_hdf5.export_hdf5`)
    with lavacut metadata, atomically; ``check(written)`` raises on a bad file
    BEFORE it replaces anything (:func:`lavacut.export.validate.write_export`
    passes the validator)."""
    import h5py

    from lavacut.export.slayer_hdf5 import export_hdf5  # torch

    path = Path(path)
    with atomic_path(path, suffix=".net") as tmp:
        raw = tmp.with_name(tmp.name + ".raw")
        try:
            if hasattr(net, "export_layers"):  # a network of SLAYER blocks (lavacut.export.nir.blocks)
                net.export_layers(raw)
            else:
                export_hdf5(net, raw)
            _repack_compressed(raw, tmp)
        finally:
            raw.unlink(missing_ok=True)
        with h5py.File(tmp, "a") as f:
            check_weights(f)
            full = {"format": FORMAT, **meta, "versions": versions(), "content_sha256": content_hash(f)}
            g = f.create_group(META_GROUP)
            g.attrs["meta"] = json_text(full)
            _write_cutoff(g, cutoff or {}, default_policy)
        check(tmp)
    return path


def _repack_compressed(src: Path, dst: Path) -> None:
    """Copy an HDF5 file, storing large datasets gzip-compressed (same dtype
    and values; NetX reads them transparently). Trained weights take a few
    integer levels, so files shrink many-fold. (Rewriting in place would not
    shrink: HDF5 does not reclaim deleted space.)"""
    import h5py

    with h5py.File(src, "r") as fi, h5py.File(dst, "w") as fo:
        for k, v in fi.attrs.items():
            fo.attrs[k] = v

        def visit(name, obj):
            if isinstance(obj, h5py.Group):
                g = fo.require_group(name)
                for k, v in obj.attrs.items():
                    g.attrs[k] = v
            else:
                big = obj.shape and obj.size >= 256
                d = fo.create_dataset(
                    name, data=obj[()], **(dict(compression="gzip", compression_opts=9, shuffle=True) if big else {})
                )
                for k, v in obj.attrs.items():
                    d.attrs[k] = v

        fi.visititems(visit)


def _write_cutoff(g, cutoff: dict[str, dict], default_policy: str | None) -> None:
    if "cutoff" in g:
        del g["cutoff"]
    c = g.create_group("cutoff")
    for name, params in cutoff.items():
        sub = c.create_group(name)
        sub.attrs["params"] = json_text(params)
    if default_policy:
        if default_policy not in cutoff:
            raise NetxFileError(f"default policy {default_policy!r} has no calibration in this export")
        c.attrs["default"] = default_policy


def read_stored_metadata(path: str | Path, check_hash: bool = True) -> dict[str, Any] | None:
    """The ``meta`` dict of a lavacut export, with ``cutoff`` (dict name ->
    params) and ``default_policy`` added; None for a NetX file lavacut did not
    write. Bad metadata raises :class:`NetxFileError` naming the field; so do,
    for lavacut's own files, layers changed after export (``check_hash``).
    The layers are not validated: :func:`lavacut.export.validate.read_metadata`
    does that first."""
    with _open(path) as f:
        return stored_metadata(f, path, check_hash)


def stored_metadata(f, path: str | Path, check_hash: bool = True) -> dict[str, Any] | None:
    """:func:`read_stored_metadata` of the open HDF5 file ``f`` (``path``
    names it in the errors)."""
    if "layer" not in f:
        raise not_netx_error(f, path)
    if META_GROUP not in f:
        return None
    g = f[META_GROUP]
    try:
        meta = json.loads(g.attrs["meta"])
    except (KeyError, TypeError, json.JSONDecodeError) as exc:  # TypeError: not text (numbers, an array)
        raise NetxFileError(f"{path}: lavacut/meta is missing or not JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise NetxFileError(f"{path}: lavacut/meta is not a JSON object (got {type(meta).__name__})")
    if check_hash and modified_after_export(f, meta):
        raise NetxFileError(
            f"{path}: the file was modified after export (its layers no longer match the "
            f"content_sha256 stored by lavacut, so its calibration and accuracy no longer "
            f"apply); {MODIFIED_HINT}"
        )
    cutoff, default = {}, None
    if "cutoff" in g:
        for name in g["cutoff"]:
            try:
                cutoff[name] = json.loads(g["cutoff"][name].attrs["params"])
            except (KeyError, TypeError, json.JSONDecodeError):
                raise NetxFileError(f"{path}: lavacut/cutoff/{name}/params is missing or not JSON") from None
        default = default_policy_attr(g["cutoff"], path)
    meta["cutoff"] = cutoff
    meta["default_policy"] = default
    _check_cutoff(path, meta)
    return meta


def default_policy_attr(cutoff_group, path) -> str | None:
    """The ``default`` attribute of the ``lavacut/cutoff`` group: a rule name (None: none)."""
    default = cutoff_group.attrs.get("default")
    if isinstance(default, bytes):
        default = default.decode("utf-8", "replace")
    if default is not None and not isinstance(default, str):
        raise NetxFileError(
            f"{path}: lavacut/cutoff default must be the name of a calibrated rule, got {type(default).__name__} "
            f"{str(default)[:40]}"
        )
    return default


def _check_cutoff(path, meta: dict) -> None:
    framing = meta.get("framing") or {}
    if not isinstance(framing, dict):
        raise NetxFileError(f"{path}: lavacut/meta framing must be an object, got {framing!r}")
    T = framing.get("T", 0)
    if "T" in framing and (isinstance(T, bool) or not isinstance(T, int) or T < 1):
        raise NetxFileError(f"{path}: lavacut/meta framing.T must be a positive integer, got {T!r}")
    sensor = meta.get("sensor_size")
    if sensor is not None and not (
        isinstance(sensor, list) and len(sensor) == 3 and all(isinstance(v, int) and v > 0 for v in sensor)
    ):
        raise NetxFileError(f"{path}: lavacut/meta sensor_size must be [W, H, P] positive integers, got {sensor!r}")
    default = meta.get("default_policy")
    if default is not None and default not in meta["cutoff"]:
        raise NetxFileError(
            f"{path}: lavacut/cutoff default policy {default!r} has no calibration "
            f"(calibrated: {sorted(meta['cutoff'])})"
        )
    for name, params in meta["cutoff"].items():
        if not isinstance(params, dict):
            raise NetxFileError(
                f"{path}: lavacut/cutoff/{name}/params must be a JSON object of the rule's parameters, "
                f"got {type(params).__name__} {str(params)[:40]}"
            )
        try:
            rule = rule_from_params(params)
            if T:
                rule.check_horizon(T)
        except (ValueError, TypeError) as exc:
            raise NetxFileError(f"{path}: lavacut/cutoff/{name}: {exc}") from None
        # run looks a calibration up by its group's name: the rule's own, or a
        # variant of it (topk_risk: Top-K chosen under a risk guarantee)
        if name != rule.name and not name.startswith(rule.name + "_"):
            raise NetxFileError(
                f"{path}: lavacut/cutoff/{name} holds the parameters of policy {rule.name!r}; each "
                f"calibration is stored under its own rule's name ({', '.join(RULES)}), or a variant "
                f"of it named <rule>_<variant>"
            )


def store_calibration(
    path: str | Path,
    cutoff: dict[str, dict],
    default_policy: str | None = None,
    extra_meta: dict[str, Any] | None = None,
    base_meta: dict[str, Any] | None = None,
    accept_modified: bool = False,
    *,
    read: Callable[..., dict[str, Any] | None],
) -> None:
    """Store calibrated stop rules in an export (copy, modify, replace);
    ``read(path, check_hash=...)`` reads (and validates) the metadata, of the
    export and of what was written (:func:`lavacut.export.validate.write_calibration`
    passes :func:`lavacut.export.validate.read_metadata`). A
    NetX file lavacut did not write gets a ``lavacut`` group with
    ``base_meta`` (netx ignores the group; the layers stay untouched).
    ``accept_modified``: the layers were edited after export on purpose;
    store their new hash, drop the old calibrations and the export-time
    accuracy (they were measured on the old layers)."""
    path = Path(path)
    with folder_lock(path):  # two calibrations of one file at once: each adds its rules, none is lost
        _store_calibration(path, cutoff, default_policy, extra_meta, base_meta, accept_modified, read)


def _store_calibration(path, cutoff, default_policy, extra_meta, base_meta, accept_modified, read) -> None:
    import h5py

    meta = read(path, check_hash=not accept_modified)
    if meta is None and base_meta is None:
        raise NetxFileError(
            f"{path}: not a lavacut export (no lavacut group); export a checkpoint with 'lavacut export' first"
        )
    with atomic_path(path, suffix=".net") as tmp:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "a") as f:
            if meta is None:
                g = f.create_group(META_GROUP)
                g.attrs["meta"] = json_text(
                    {"format": FORMAT, **base_meta, "versions": versions(), "content_sha256": content_hash(f)}
                )
                meta = {"cutoff": {}, "default_policy": None}
            g = f[META_GROUP]
            stale = accept_modified and modified_after_export(f, meta)
            merged = {**({} if stale else meta["cutoff"]), **cutoff}
            if extra_meta or stale:
                m = json.loads(g.attrs["meta"])
                m.update(extra_meta or {})
                if stale:
                    m["modified_after_export"] = {
                        "previous_content_sha256": m.get("content_sha256"),
                        "export_accuracy": m.pop("accuracy", None),
                    }
                    m["content_sha256"] = content_hash(f)
                g.attrs["meta"] = json_text(m)
            _write_cutoff(g, merged, default_policy or meta.get("default_policy"))
        read(tmp)  # validate what was written BEFORE it replaces the export
