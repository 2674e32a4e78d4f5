"""NIR -> lavacut: a NIR chain graph as a SLAYER network, which
:mod:`.importer` writes as a NetX export that ``lavacut calibrate /
evaluate / run`` use like a native one.

Imported: Input, Output, Linear, Affine, Conv2d, Flatten, SumPool2d,
AvgPool2d (:mod:`.ops`), CubaLIF, LIF, IF (:mod:`.neurons`); a recurrent
Linear/Affine self-loop on a dense neuron node (a recurrent CUBA layer) and
an LI / CubaLI / I output node (a voltage readout), both built from SLAYER
blocks (:mod:`.blocks`). Refused, with an error naming the node: other node
types, branches, merges and other loops, shapes that do not chain,
parameters CUBA cannot hold exactly (see :mod:`.neurons`).

Data binding: the data set and framing come from ``cfg`` / ``overrides``
(CLI ``--config`` / ``--set``), else from the lavacut metadata of a graph
lavacut wrote, else none: the export's ``dataset``, ``framing``,
``sensor_size``, ``data_seed``, ``train_config`` and ``accuracy`` are null.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lavacut.export.nir.neurons import choose_threshold, quantise, resolve_dt
from lavacut.export.nir.ops import NirError, chain, tname
from lavacut.export.nir.walk import check_node_parameters, graph_input_shape, walk_layers
from lavacut.export.nir.write import lavacut_metadata
from lavacut.fixed_point import P_SCALE, READOUT_VTH_MANT, W_SCALE
from lavacut.config import RunConfig
from lavacut.cutoff.rules import rule_from_params
from lavacut.data.sources import dataset_classes, dataset_sensor_size
from lavacut.util import LavacutError, first_line

ONE_OUTPUT_DECISION = "none (one output neuron: fixed T)"


def read_nir(path: str | Path):
    """``nir.read`` without NIR's own type inference (lavacut checks shapes
    itself and names the node at fault); clear error for unreadable files."""
    import nir

    path = Path(path)
    if not path.is_file():
        raise NirError(f"{path}: no such file")
    _check_declared(path)
    try:
        graph = nir.read(path, type_check=False)
    except Exception as exc:  # h5py / nir raise many types for bad files
        raise NirError(
            f"{path}: not a NIR graph nir {getattr(nir, 'version', '')} can read "
            f"({type(exc).__name__}: {first_line(exc)})"
        ) from None
    check_node_parameters(graph, path)
    return graph


def _check_declared(path: Path) -> None:
    """Links and sizes from the HDF5 headers, before nir.read decompresses
    anything (the limit of :data:`lavacut.export.validate.MAX_ELEMENTS`);
    a NetX file is named as one (it needs no import)."""
    import h5py

    from lavacut.export.validate import hdf5_datasets, size_problem

    try:
        with h5py.File(path, "r") as f:
            netx = "layer" in f and "node" not in f
            datasets, problems = hdf5_datasets(f)
            problem = (problems or [size_problem(datasets)])[0]
    except OSError:
        return  # not HDF5: nir.read says so
    if netx:
        raise NirError(
            f"{path}: a NetX file, not a NIR graph: lavacut reads it as it is ('lavacut inspect / run {path}')"
        )
    if problem:
        raise NirError(f"{path}: {problem}")


@dataclass
class ImportReport:
    """What :func:`from_nir` did (stored as ``meta["nir_import"]``)."""

    dt: float
    dt_source: str
    threshold: float
    threshold_choice: str
    lossless: bool
    layers: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def format(self) -> str:
        lines = [
            f"dt = {self.dt:g} s ({self.dt_source}); threshold {self.threshold:g} ({self.threshold_choice}); "
            f"{'lossless' if self.lossless else 'quantised (lossy)'}"
        ]
        for L in self.layers:
            q = L["quantisation"]
            b = L.get("bias_mant")
            lines.append(
                f"  {L['kind']:<5} {'+'.join(L['nodes'])} -> {L['neuron']} ({L['neuron_type']}"
                + (f", recurrent {L['recurrent']}" if L.get("recurrent") else "")
                + (", voltage readout" if L.get("readout") else "")
                + ") "
                f"{tuple(L['shape'])}: iDecay {L['iDecay']} vDecay {L['vDecay']}"
                + (f", bias_mant {min(b)}..{max(b)}" if b else "")
                + f", weight rel. RMS error {q['rel_rms_error']:.2e}, {q['zeroed']} rounded to 0, "
                f"{q['clipped']} clipped"
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def format_import_report(meta: dict) -> str:
    """Human-readable summary of an import's metadata (for the CLI)."""
    rep = dict(meta["nir_import"])
    names = {f.name for f in ImportReport.__dataclass_fields__.values()}
    text = ImportReport(**{k: v for k, v in rep.items() if k in names}).format()
    fr = meta.get("framing")
    if meta.get("dataset"):
        text += (
            f"\n  data set: {meta['dataset']} (T = {fr['T']}, bin {fr['bin_us']} us)"
            if fr
            else f"\n  data set: {meta['dataset']}"
        )
    else:
        text += (
            "\n  data set: unknown (not bound: no accuracy measured; give --config or --set "
            "data.dataset=... to import, or --input / --config to run it)"
        )
    if meta.get("decision"):
        text += f"\n  decision: {meta['decision']}: no class decision, no cutoff"
    acc = (meta.get("accuracy") or {}).get("test_full_T_slayer")
    if acc is not None:
        text += f"\n  test accuracy at full T (SLAYER): {acc:.4f} on {meta['accuracy'].get('n_test', '?')} samples"
    return text


def _binding(cfg, overrides, lc_meta):
    """(RunConfig or None, explicit?)."""

    if cfg is not None or overrides:
        base = cfg if cfg is not None else RunConfig()
        return (base.with_overrides(list(overrides)) if overrides else base), True
    if lc_meta and isinstance(lc_meta.get("train_config"), dict):
        return RunConfig.from_dict(dict(lc_meta["train_config"]), source="NIR graph metadata (train_config)"), False
    return None, False


def from_nir(
    graph_or_path,
    *,
    dt: float | str | None = None,
    threshold: float | None = None,
    input_shape: Sequence[int] | None = None,
    cfg=None,
    overrides: Sequence[str] | None = None,
    name: str | None = None,
):
    """Convert a NIR graph (a ``nir.NIRGraph`` or a ``.nir`` file) into a
    lavacut SLAYER network (eval mode) and its export metadata.

    ``dt``: the producer's time step in seconds, or ``"bin"`` (the bound
    framing bin); default: graph metadata, else inferred. ``threshold``:
    force the shared CUBA threshold. ``input_shape``: (C, H, W) for a graph
    with a flat (or no) input shape. ``cfg`` / ``overrides`` bind the data set
    (module docstring). Returns ``(net, meta)``; ``meta["nir_import"]`` is the
    :class:`ImportReport`; ``meta`` has ``cutoff`` / ``default_policy`` when a
    lavacut graph with a calibration imports losslessly.
    """
    import torch

    from lavacut.train.netspec import NetSpec
    from lavacut.train.networks import build_network  # torch

    path = None
    if isinstance(graph_or_path, (str, Path)):
        path = Path(graph_or_path)
        graph = read_nir(path)
    else:
        graph = graph_or_path
    if not hasattr(graph, "nodes") or not hasattr(graph, "edges"):
        raise NirError(f"expected a nir.NIRGraph or a .nir file, got {type(graph_or_path).__name__}")
    if path is None:
        check_node_parameters(graph)
    lc_meta = lavacut_metadata(graph)
    loops: dict[str, str] = {}
    order = chain(graph, loops)
    base, explicit = _binding(cfg, overrides, lc_meta)
    if dt == "bin":
        if base is None:
            raise NirError(
                "--dt bin means the framing bin of the data set the network is bound to; bind one "
                "(--config / --set data.dataset=...) or give dt in seconds"
            )
        dt = base.framing.bin_us * 1e-6
    dt, dt_source = resolve_dt(graph, dt)
    graph_in_shape = graph_input_shape(graph.nodes[order[0]], order[0], input_shape)
    notes_in = []
    first = graph.nodes[order[1]] if len(order) > 1 else None
    if tname(first) in ("Linear", "Affine") and len(graph_in_shape) > 1 and input_shape is None:
        n_feat = int(np.shape(first.weight)[-1])
        if n_feat == graph_in_shape[-1] and int(np.prod(graph_in_shape)) != n_feat:
            # Rockpool writes (batch, time, features), Norse (batch, features): NIR shapes have neither
            notes_in.append(
                f"Input {order[0]!r} declares shape {tuple(graph_in_shape)}; {order[1]!r} takes "
                f"{n_feat} features: the leading dimensions (the producer's batch / time) are dropped"
            )
            graph_in_shape = (n_feat,)
    layers = walk_layers(graph, order, graph_in_shape, dt, loops)
    last = layers[-1]
    n_classes = int(last["shape"][0])

    # ---- threshold and quantisation
    spiking = [L for L in layers if not L["readout"]]
    recs = [
        {"wn": L["wn_rec"], "vth": L["vth"], "bn": None, "neuron": L["neuron"]}
        for L in spiking
        if L.get("rec") is not None
    ]  # recurrent weights share the layer's scale
    theta, th_choice = choose_threshold(spiking + recs, threshold) if spiking else (1.0, "no spiking layer")
    report = ImportReport(
        dt=dt, dt_source=dt_source, threshold=theta, threshold_choice=th_choice, lossless=True, notes=notes_in
    )
    for L in layers:
        scale = theta
        if L["readout"]:  # its own positive scale (the voltage's unit changes, no decision does)
            if L["dv"] > 0 and L["vDecay"] == 0:
                raise NirError(
                    f"node {L['neuron']!r} ({L['neuron_type']}): its voltage decay dt/tau = {L['dv']:.3g} "
                    f"rounds to 0/4096, so Loihi would integrate without leak; an exact readout needs "
                    f"dt/tau >= 1/8192 (or an I node for a plain integrator)"
                )
            scale = choose_threshold([L], None)[0]
            if 0 < L["vDecay"] < P_SCALE:
                lsb = (
                    1 / (L["vDecay"] / P_SCALE)
                    + (0 if L["iDecay"] == P_SCALE else 1 / (L["vDecay"] / P_SCALE * L["iDecay"] / P_SCALE))
                ) / P_SCALE
                report.notes.append(
                    f"Loihi rounds each decay of the readout voltage toward zero: it differs from a "
                    f"float simulation by at most {lsb:.3g} (in its scaled units)"
                )
            report.notes.append(
                f"{L['neuron']!r} ({L['neuron_type']}) is a voltage readout: the output layer's "
                f"neurons never spike (vThMant {READOUT_VTH_MANT}, SLAYER's cuba.Affine export); "
                f"its voltage is the graph's times {scale:g} (weights and bias scaled to the "
                f"8-bit grid)"
            )
            L["scale"] = scale
        L["wq"], q = quantise(L["wn"], scale)
        L["bias"] = None if L["bn"] is None else tuple(float(v) for v in np.rint(L["bn"] * scale * W_SCALE) / W_SCALE)
        exact_w = q["max_abs_error"] <= 1e-6 * max(1.0, q["max_abs_weight"])
        if L.get("rec") is not None:
            L["wq_rec"], q_rec = quantise(L["wn_rec"], theta)
            exact_w &= q_rec["max_abs_error"] <= 1e-6 * max(1.0, q_rec["max_abs_weight"])
            q = {**q, "recurrent": q_rec}
            report.notes.append(
                f"{L['rec_node']!r} is {L['neuron']!r}'s recurrent weight: a recurrent CUBA layer "
                f"(SLAYER cuba.Recurrent, netx dense_rec); its spikes return one step later"
            )
        exact_d = abs(L["du"] * P_SCALE - L["iDecay"]) < 1e-3 and abs(L["dv"] * P_SCALE - L["vDecay"]) < 1e-3
        report.lossless &= bool(exact_w and exact_d)
        report.layers.append(
            {
                "kind": L["kind"],
                "nodes": L["nodes"],
                "neuron": L["neuron"],
                "neuron_type": L["neuron_type"],
                "shape": list(L["shape"]),
                "du": L["du"],
                "dv": L["dv"],
                "iDecay": L["iDecay"],
                "vDecay": L["vDecay"],
                "decay_rel_error": {
                    "current": abs(L["iDecay"] / P_SCALE - L["du"]) / L["du"] if L["du"] else 0.0,
                    "voltage": abs(L["vDecay"] / P_SCALE - L["dv"]) / L["dv"] if L["dv"] else 0.0,
                },
                "quantisation": q,
                **({"bias_mant": [int(round(b * W_SCALE)) for b in L["bias"]]} if L["bias"] else {}),
                **(
                    {"kernel": L["kernel"], "stride": L["stride"], "padding": L["padding"]}
                    if L["kind"] == "conv"
                    else {}
                ),
                **({"recurrent": L["rec_node"]} if L.get("rec") is not None else {}),
                **({"readout": "voltage", "voltage_scale": L["scale"]} if L["readout"] else {}),
            }
        )
        core = [n for n in L["nodes"] if tname(graph.nodes[n]) != "Flatten"]
        if len(core) > 1 or tname(graph.nodes[core[0]]) in ("SumPool2d", "AvgPool2d"):
            report.notes.append(
                f"{'+'.join(L['nodes'])} merged into one "
                f"{'convolution' if L['kind'] == 'conv' else 'dense synapse'} before {L['neuron']!r}"
            )
    ths = {round(float(t), 9) for L in spiking for t in np.unique(L["vth"])}
    if spiking and (len(ths) > 1 or ths != {theta}):
        report.notes.append(
            f"v_threshold {sorted(ths)[:4]}{'...' if len(ths) > 4 else ''} folded into the incoming "
            f"weights: every layer uses threshold {theta:g}"
        )
    if any(L["neuron_type"] in ("LIF", "IF") for L in layers):
        report.notes.append("LIF / IF layers run as CUBA with current decay 4096/4096 (current = this step's input)")
    if any(L["bias"] for L in layers):
        report.notes.append(
            "v_leak / Affine / Conv2d biases run as Loihi voltage biases (exact values); layer l "
            "integrates its bias for l steps before its first input (Loihi's synapse pipeline): "
            "the network equals the graph simulated with one-step synapses"
        )
    else:
        report.notes.append(
            f"the SLAYER/Lava network delays each synapse by one step: its output at step t is the "
            f"source simulator's at t - {len(layers)}"
        )

    # ---- the data set the network is bound to
    sensor = dataset_sensor_size(base.data.dataset) if base is not None else None
    want = tuple(base.framing.input_shape(sensor)) if sensor else None
    n_in = int(np.prod(graph_in_shape))
    if input_shape is not None:
        shp = tuple(int(v) for v in input_shape)
        if len(shp) != 3 or int(np.prod(shp)) != n_in:
            raise NirError(
                f"input_shape {shp} must be (C, H, W) with C*H*W = {n_in} (the graph's input {graph_in_shape})"
            )
        if layers[0]["kind"] == "conv" and shp != tuple(graph_in_shape):
            raise NirError(f"input_shape {shp}: the first layer is a convolution on {tuple(graph_in_shape)}")
    elif len(graph_in_shape) == 3:
        shp = tuple(graph_in_shape)
    elif want is not None and int(np.prod(want)) == n_in:
        shp = want
        report.notes.append(f"flat graph input of {n_in} read as the data set's (C, H, W) = {want} in C order")
    else:
        shp = (n_in, 1, 1)
    bound = want is not None and shp == want
    if base is not None and not bound:
        msg = (
            f"the network input (C, H, W) = {shp} does not match data set {base.data.dataset!r} framed as {want}"
            if want
            else f"data set {base.data.dataset!r} is unknown to lavacut"
        )
        if explicit:
            raise NirError(
                msg + "; choose a matching data set / framing (e.g. data.dataset=..., "
                "framing.downsample=...) or input_shape"
            )
        report.notes.append(msg + ": the export is not bound to a data set")
    if not bound:
        base = None

    # ---- the SLAYER network
    convs = [L for L in layers if L["kind"] == "conv"]
    dense = [L for L in layers if L["kind"] == "dense"]
    net_name = name or (lc_meta or {}).get("name") or (path.stem if path else "nir-import")
    has_bias = any(L["bias"] for L in layers)
    if any(L["readout"] or L.get("rec") is not None for L in layers):  # beyond a NetSpec: SLAYER blocks
        from lavacut.export.nir.blocks import block_network  # torch

        net = block_network(layers, shp, theta)
        return net, _metadata(
            graph, path, lc_meta, net, None, layers, report, base, sensor, name=str(net_name), input_shape=shp
        )
    try:
        spec = NetSpec(
            kind="conv" if convs else "dense",
            input_shape=shp,
            n_classes=n_classes,
            hidden=tuple(int(L["shape"][0]) for L in dense[:-1]),
            conv_channels=tuple(int(L["shape"][0]) for L in convs),
            conv_kernels=tuple(L["kernel"] for L in convs),
            conv_strides=tuple(L["stride"] for L in convs),
            conv_paddings=tuple(L["padding"] for L in convs),
            threshold=theta,
            current_decay=layers[0]["iDecay"] / P_SCALE,
            voltage_decay=layers[0]["vDecay"] / P_SCALE,
            dropout=0.0,
            weight_norm=False,
            name=str(net_name),
            layer_bias=tuple(L["bias"] or () for L in layers) if has_bias else (),
        )
    except LavacutError as exc:
        raise NirError(f"the converted network is not a valid lavacut NetSpec: {exc}") from None
    if convs and spec.conv_output_shapes()[-1] != tuple(convs[-1]["shape"]):
        raise NirError(
            f"convolution shapes do not chain: NetSpec gives {spec.conv_output_shapes()}, the graph "
            f"{[tuple(L['shape']) for L in convs]}"
        )
    net = build_network(spec)
    with torch.no_grad():
        for b, L in zip(net.spiking_blocks, layers):
            target = b.synapse.weight
            if L["wq"].size != target.numel():
                raise NirError(
                    f"node {L['neuron']!r}: weight has {L['wq'].size} entries, the SLAYER layer {tuple(target.shape)}"
                )
            target.copy_(torch.from_numpy(L["wq"].astype(np.float32)).reshape(target.shape))
            b.neuron.current_decay.fill_(float(L["iDecay"]))
            b.neuron.voltage_decay.fill_(float(L["vDecay"]))
    net.eval()
    return net, _metadata(graph, path, lc_meta, net, spec, layers, report, base, sensor)


def _metadata(
    graph, path, lc_meta, net, spec, layers, report, base, sensor, name=None, input_shape=None
) -> dict[str, Any]:
    """The export metadata: lavacut's exporter's keys (null where unknown) plus
    the import's. ``spec`` None: a network of SLAYER blocks (``name``,
    ``input_shape`` given), rebuilt from its layers by ``net_from_export``."""
    n_classes = spec.n_classes if spec is not None else int(np.prod(layers[-1]["shape"]))
    keep = bool(lc_meta) and report.lossless
    gmd = graph.metadata if isinstance(getattr(graph, "metadata", None), dict) else {}
    dataset = base.data.dataset if base is not None else None
    meta: dict[str, Any] = {
        "name": spec.name if spec is not None else name,
        "dataset": dataset,
        "data_seed": base.data.seed if base is not None else None,
        "sensor_size": list(sensor) if base is not None else None,
        "input_shape": list(spec.input_shape if spec is not None else input_shape),
        "framing": (
            {k: getattr(base.framing, k) for k in ("bin_us", "T", "slicing", "downsample", "denoise_us")}
            if base is not None
            else None
        ),
        "classes": ((lc_meta or {}).get("classes") if keep else None) or dataset_classes(dataset, n_classes),
        "n_classes": n_classes,
        "latency_steps": net.latency,
        **({"spec": spec.to_dict()} if spec is not None else {}),
        "train_config": base.to_dict() if base is not None else None,
        "accuracy": (dict((lc_meta or {}).get("accuracy") or {}) if keep else {}) if base is not None else None,
        "source": {
            "format": "nir",
            "file": str(path) if path else None,
            "producer": "lavacut" if lc_meta else str(gmd.get("producer", "unknown")),
        },
    }
    if n_classes == 1:
        meta["decision"] = ONE_OUTPUT_DECISION
        report.notes.append("one output neuron: the network runs with fixed T (no class decision, no cutoff)")
    if base is None:
        report.notes.append("no data set bound: dataset, framing and train_config are null and no accuracy is measured")
    if any(L["iDecay"] != layers[0]["iDecay"] or L["vDecay"] != layers[0]["vDecay"] for L in layers):
        meta["layer_decays"] = [[L["iDecay"], L["vDecay"]] for L in layers]
    if keep and lc_meta.get("cutoff") and base is not None and n_classes > 1:
        good = {}
        for nm, params in lc_meta["cutoff"].items():
            try:
                rule_from_params(params).check_horizon(base.framing.T)
                good[nm] = params
            except (ValueError, TypeError):
                report.notes.append(f"cutoff calibration {nm!r} dropped: it does not fit T = {base.framing.T}")
        if good:
            meta["cutoff"] = good
            dp = lc_meta.get("default_policy")
            meta["default_policy"] = dp if dp in good else None
            report.notes.append(f"cutoff calibration kept ({', '.join(sorted(good))}): the import is lossless")
    elif lc_meta and lc_meta.get("cutoff"):
        report.notes.append(
            "the graph's cutoff calibration was dropped (the import is not lossless or not bound "
            "to its data set): recalibrate with 'lavacut calibrate'"
        )
    report.notes = list(dict.fromkeys(report.notes))
    meta["nir_import"] = asdict(report)
    return meta
