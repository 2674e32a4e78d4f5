"""``lavacut inspect``'s report of a NetX file: its layers
(:mod:`lavacut.export.netx.inspect`), lavacut metadata and every problem of the
validator (:mod:`lavacut.export.validate`)."""

from __future__ import annotations

import math
from pathlib import Path

from lavacut.export.netx.inspect import activity_warnings, inspect_layers
from lavacut.export.netx.file import NetxFileError, _open, read_stored_metadata
from lavacut.export.validate import problems as validator_problems
from lavacut.export.validate import structure_problems
from lavacut.fixed_point import P_SCALE, W_SCALE


def _num(v, scale: int, digits: int) -> str:
    if v is None:
        return ""
    return f"{v:.{digits}g} [{int(round(v * scale))}]" if math.isfinite(v) else str(v)


def file_problems(path: str | Path) -> list[str]:
    """What stops the file from running: every problem of the validator
    (:func:`lavacut.export.validate.problems`: structure, sizes, types,
    values, Loihi ranges, lavacut metadata, layers changed after export);
    [] when nothing does."""
    return [p.text for p in validator_problems(path)]


def format_inspection(path: str | Path) -> str:
    """The report of ``lavacut inspect``: the layers, the lavacut metadata,
    then one ``PROBLEM:`` line per :func:`file_problems` and a last line
    ``would run: yes|no`` that says whether ``lavacut run`` accepts the file
    (no: a PROBLEM line, or a layer marked CANNOT). A file whose structure
    is refused is not read further."""
    problems = file_problems(path)
    with _open(path) as f:
        broken = bool(structure_problems(f))
    if broken:
        return "\n".join(
            [
                f"{path}",
                *[f"PROBLEM: {p}" for p in problems],
                "would run: no (the file's structure is refused; nothing more was read)",
            ]
        )
    layers = inspect_layers(path)
    try:
        meta = read_stored_metadata(path, check_hash=False)
    except NetxFileError:
        meta = {}  # its problems are the PROBLEM lines
    lines = [f"{path}"]
    lines.append(
        f"{'layer':<6}{'type':<11}{'shape':<16}{'neuron':<8}{'weights':>18}{'bits':>6}{'neurons':>9}"
        f"{'synapses':>11}{'wmem KiB':>10}  delays"
    )
    tot_n = tot_s = tot_m = 0
    for L in layers:
        lines.append(
            f"{L.index:<6}{L.type:<11}{str(L.shape):<16}{L.neuron_type:<8}{str(L.weight_shape or ''):>18}"
            f"{str(L.weight_bits or ''):>6}{L.neurons:>9}{L.synapses:>11}{L.weight_memory_bits / 8192:>10.1f}"
            f"  {L.delays}" + (f"  UNSUPPORTED: {L.note}" if L.note else "")
        )
        tot_n += L.neurons
        tot_s += L.synapses
        tot_m += L.weight_memory_bits
    lines.append(
        f"total: {tot_n} neurons, {tot_s} synaptic connections, {tot_m / 8192:.1f} KiB weight memory "
        f"(stored nonzero weights x weight bits; Loihi 2 estimate, before compiler packing)"
    )
    with_neuron = [L for L in layers if L.neuron]
    if with_neuron:
        lines.append(
            "neurons (SLAYER units: threshold = vThMant/64, decays = iDecay/4096, vDecay/4096; "
            "file mantissas in brackets):"
        )
        lines.append(f"  {'layer':<6}{'neuron':<8}{'threshold':>16}{'current decay':>18}{'voltage decay':>18}")
        for L in with_neuron:
            lines.append(
                f"  {L.index:<6}{L.neuron_type:<8}{_num(L.threshold, W_SCALE, 6):>16}"
                f"{_num(L.current_decay, P_SCALE, 4):>18}{_num(L.voltage_decay, P_SCALE, 4):>18}"
            )
    if any(L.neuron_type == "LOIHI" for L in layers):
        lines.append("  LOIHI neurons: netx runs them as CUBA LIF (theta, tauRho, scaleRho are ignored)")
    lines.append("lavacut run / verify, per layer:")
    first: dict[str, str] = {}  # reason -> first layer giving it (said once)
    for L in layers:
        marks = []
        for what, issue in (("run", L.run_issue), ("verify", L.verify_issue)):
            if what == "verify" and issue == L.run_issue:
                continue
            text = "ok" if not issue else (f"CANNOT: as layer {first[issue]}" if issue in first else f"CANNOT: {issue}")
            first.setdefault(issue, L.index)
            marks.append(
                f"{what}{' and verify' if what == 'run' and issue == L.verify_issue and issue else ''}: {text}"
            )
        lines.append(f"  {L.index:<6}{L.type:<11}" + "; ".join(marks) + (f"  ({L.role})" if L.role else ""))
    bad = [L for L in layers if not L.supported]
    if bad:
        lines.append(
            "unsupported by netx: "
            + ", ".join(f"layer {L.index} ({L.type})" for L in bad)
            + " -- stock lava.lib.dl.netx.hdf5.Network will not load this file"
        )
    if meta is None:
        lines.append(
            "lavacut metadata: none (not written by lavacut; 'lavacut run' needs --policy parameters or runs fixed T)"
        )
    elif not meta:
        lines.append("lavacut metadata: unreadable (see the PROBLEM lines)")
    else:
        lines += _meta_lines(meta)
    with _open(path) as f:
        lines += [f"WARNING: {w}" for w in activity_warnings(layers, f["layer"])]
    lines += [f"PROBLEM: {p}" for p in problems]
    refused = problems or [L for L in layers if L.run_issue]
    lines.append(f"would run: {'no' if refused else 'yes'}")
    return "\n".join(lines)


def _meta_lines(meta: dict) -> list[str]:
    fr = meta.get("framing") or {}
    lines = [
        f"lavacut metadata (format {meta.get('format')}): name {meta.get('name')}, data set "
        f"{meta.get('dataset') or 'unknown'}, sensor {meta.get('sensor_size')}, input {meta.get('input_shape')}, "
        + (f"framing bin {fr.get('bin_us')} us x T {fr.get('T')}" if fr else "framing unknown"),
        f"  classes {meta.get('classes')}",
    ]
    acc = meta.get("accuracy") or {}
    if acc:
        lines.append(
            "  accuracy " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in acc.items())
        )
    v = meta.get("versions") or {}
    lines.append(
        f"  versions lavacut {v.get('lavacut')}, lava-nc {v.get('lava-nc')}, lava-dl {v.get('lava-dl')}, "
        f"torch {v.get('torch')}"
    )
    lines.append(f"  content sha256 {meta.get('content_sha256')}")
    if meta["cutoff"]:
        for name, p in meta["cutoff"].items():
            brief = {
                k: (f"[{len(v)} values, {min(v):.3g}..{max(v):.3g}]" if isinstance(v, list) and v else v)
                for k, v in p.items()
                if k != "policy"
            }
            star = " (default)" if name == meta.get("default_policy") else ""
            lines.append(f"  cutoff {name}{star}: {brief}")
    else:
        lines.append("  cutoff: not calibrated yet ('lavacut calibrate')")
    return lines
