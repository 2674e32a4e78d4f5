"""``lavacut export``, ``import``, ``inspect``, ``check`` and ``list``: NetX
files in and out, and what they hold."""

from __future__ import annotations

import sys
from pathlib import Path

from lavacut.cli import argtypes, options
from lavacut.cli.common import check_io, event_format, network_file
from lavacut.config import load_config
from lavacut.util import check_input_file, check_name


def cmd_export(args) -> int:
    from lavacut.shipped import resolve_export

    if args.name is not None:
        check_name(args.name, "--name")
    if args.format == "nir":
        from lavacut.export.nir import DEFAULT_DT, write_nir

        src = resolve_export(args.checkpoint)  # a path, or a shipped export's name
        out = Path(args.output) if args.output else Path("netx_exports") / f"{args.name or src.stem}.nir"
        check_io(args, [(out, "-o" if args.output else "the NIR output")], [(src, "SOURCE")])
        path, graph = write_nir(src, out, dt=args.dt or DEFAULT_DT)
        print(f"exported {src} -> {path} (NIR graph: {len(graph.nodes)} nodes; read back with nir.read, type-checked)")
        return 0
    from lavacut.pipelines.stages import export_checkpoint

    check_io(args, [(args.output, "-o")], [(args.checkpoint, "SOURCE")])
    path, meta = export_checkpoint(
        args.checkpoint,
        args.output,
        args.name,
        check_out=lambda out: check_io(
            args, [(out, "-o" if args.output else "the export")], [(args.checkpoint, "SOURCE")]
        ),
    )
    print(
        f"exported {args.checkpoint} -> {path} (test accuracy at full T, SLAYER: "
        f"{meta['accuracy']['test_full_T_slayer']:.4f})"
    )
    from lavacut.pipelines.check import export_warnings

    for line in export_warnings(path):  # the Loihi 2 design-rule check, as warnings
        print(line, file=sys.stderr if line.startswith("warning") else sys.stdout)
    return 0


def cmd_check(args) -> int:
    from lavacut.pipelines.check import check_export
    from lavacut.shipped import resolve_export

    args.file = network_file(resolve_export(args.file))  # a path, or a shipped export's name
    report = Path(args.report)
    check_io(args, [(report, "--report"), (report.with_suffix(".png"), "--report's core map")], [(args.file, "FILE")])
    rep, written = check_export(args.file, target=args.target, report=args.report, replicas=args.replicas)
    print(rep.format())
    refused = run_refusal(args.file) if rep.ok else ""
    if refused:  # this check judges Loihi 2's rules; what lavacut run refuses is said the same way as inspect says it
        print(f"lavacut run / verify: no ({refused}; 'lavacut inspect' lists every layer)")
    if written:
        print(f"report: {written[0]}; core map: {written[1]}")
    return 0 if rep.ok else 1


def run_refusal(path) -> str:
    """The first layer 'lavacut run' cannot handle, as inspect's CANNOT line names it ("" = none)."""
    from lavacut.export.netx.inspect import inspect_layers

    bad = next((L for L in inspect_layers(path) if L.run_issue), None)
    return f"layer {bad.index} ({bad.type}): {bad.run_issue}" if bad else ""


def cmd_import(args) -> int:
    from lavacut.export.nir import format_import_report, import_nir

    if args.name is not None:
        check_name(args.name, "--name")
    check_io(args, [(args.output, "-o")], [(args.file, "FILE")])
    cfg = load_config(args.config, args.overrides) if args.config else None
    path, meta = import_nir(
        args.file,
        args.output,
        dt=args.dt,
        threshold=args.threshold,
        input_shape=tuple(args.input_shape) if args.input_shape else None,
        cfg=cfg,
        overrides=None if args.config else args.overrides,
        name=args.name,
        evaluate=not args.no_evaluate,
        progress=True,
        check_out=lambda out: check_io(
            args, [(out, "-o" if args.output else "the NetX output")], [(args.file, "FILE")]
        ),
    )
    print(format_import_report(meta))
    print(f"NetX export: {path}")
    return 0


def cmd_inspect(args) -> int:
    from lavacut.pipelines.stages import format_inspection
    from lavacut.shipped import resolve_export

    args.file = str(resolve_export(args.file))  # a path, or a shipped export's name
    check_input_file(args.file, "FILE", folder=True)  # a folder: format_inspection names it
    if Path(args.file).suffix.lower() == ".npz" and Path(args.file).is_file():  # frames, as run --input takes them
        from lavacut.data.recording_report import format_frames_archive

        print(format_frames_archive(args.file))
        return 0
    if event_format(args.file) is not None:
        from lavacut.data.recording_report import format_recording

        print(format_recording(args.file))
        return 0
    text = format_inspection(args.file)
    print(text)
    # the exit status is the verdict of the last line: a PROBLEM line and a layer run cannot handle alike
    return 0 if text.endswith("would run: yes") else 1


def cmd_list(args) -> int:
    from lavacut.pipelines.listing import format_listing

    print(format_listing())
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "export",
        parents=[options.common()],
        help="export a checkpoint to NetX HDF5 (default) or a NIR graph",
        description="netx: writes netx_exports/<name>.net (atomically), a NetX file stock "
        "lava.lib.dl.netx.hdf5.Network loads, plus a 'lavacut' metadata group. "
        "nir: writes a NIR graph (CubaLIF/Affine/Conv2d/Flatten) from a checkpoint "
        "or a lavacut .net, with the cutoff calibration in its metadata.",
    )
    p.add_argument(
        "checkpoint",
        metavar="SOURCE",
        help="a checkpoint written by 'lavacut train' (best.pt), or a lavacut .net for --format nir",
    )
    p.add_argument(
        "--format", choices=["netx", "nir"], default="netx", help="netx: a NetX HDF5 file (default); nir: a NIR graph"
    )
    p.add_argument("-o", "--output", metavar="PATH", help="output file (default netx_exports/<name>.net|.nir)")
    p.add_argument("--name", help="export name (default: the config name)")
    p.add_argument(
        "--dt",
        type=argtypes.dt,
        help="NIR only: seconds per time step (> 0; default 1e-4, snnTorch's convention) or 'bin' (the framing bin)",
    )
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "import",
        parents=[options.config(), options.common()],
        help="convert a NIR graph (snnTorch, Norse, ...) into a SLAYER net and a NetX export",
        description="CubaLIF, LIF, IF, Affine/Linear, Conv2d, Flatten, SumPool2d/AvgPool2d "
        "(folded into convolutions). Unsupported nodes, parameters CUBA cannot hold and "
        "shapes that do not chain are errors naming the node. Bind the data set it "
        "runs on with --config/--set (e.g. --set data.dataset=embedded).",
    )
    p.add_argument("file", help="a .nir file")
    p.add_argument("-o", "--output", metavar="PATH.net", help="NetX output (default netx_exports/<name>.net)")
    p.add_argument("--name", help="network name (default: the file stem)")
    p.add_argument(
        "--dt",
        type=argtypes.positive_number,
        help="seconds per time step (default: from the graph's metadata or its taus)",
    )
    p.add_argument(
        "--threshold",
        type=argtypes.positive_number,
        help="shared CUBA threshold (default: chosen losslessly if possible)",
    )
    p.add_argument(
        "--input-shape", type=int, nargs=3, metavar=("C", "H", "W"), help="frame shape if the graph has none"
    )
    p.add_argument("--no-evaluate", action="store_true", help="skip measuring test accuracy after import")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser(
        "inspect",
        parents=[options.common()],
        help="print a NetX file's layers, metadata and Loihi 2 resource estimate, or what an event recording holds",
        description="Works on any NetX file; layer types netx cannot load are listed as "
        "unsupported. It describes the file and ends with its verdict 'would run: yes|no', the "
        "one 'lavacut run' and 'verify' act on: exit 0 for yes; 1 for no (a PROBLEM line, which "
        "'lavacut check' also fails, or a layer marked CANNOT, which check judges by Loihi 2's rules "
        "alone and names); 2 when the file cannot be read. On an event recording (.aedat4, .dat, .raw, N-MNIST .bin, tonic "
        ".npy): its format, event count, duration, extent, polarities and sensor.",
    )
    p.add_argument("file", help="a .net file or an event recording")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser(
        "check",
        parents=[
            options.report("check", " (cores, layers, assumptions), the core-map PNG beside it"),
            options.common(),
        ],
        help="Loihi 2 design-rule check and core map of a NetX file (exit 1 on a violation)",
        description="Weight precision and exponent, threshold/decay/bias ranges, delays <= 62, "
        "neurons, synaptic memory and axons per core, fan-in, cores and chips, from "
        "Intel's public Loihi 2 figures and the lava/lava-dl sources; unpublished "
        "figures are assumptions listed in the report. Violations are errors (exit 1), "
        "uses >= 90 % of a limit are warnings. It judges the chip's rules: a layer only lavacut "
        "cannot run (inspect's CANNOT) is no violation, and it prints 'lavacut run / "
        "verify: no (...)'; what inspect lists as PROBLEM fails it.",
    )
    p.add_argument("file", help="a NetX .net file")
    p.add_argument("--target", choices=["loihi2"], default="loihi2", help="the chip checked against (loihi2)")
    p.add_argument(
        "--replicas",
        type=argtypes.at_least_one,
        default=1,
        metavar="R",
        help="core map of R copies side by side (the chip counterpart of --lanes): copies per chip, "
        "the binding limit, the shared input (default 1)",
    )
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "list",
        parents=[options.common()],
        help="list the shipped exports (layers, classes, calibrated rules) and recipes",
        description="The NetX exports lavacut ships (netx_exports/; run, evaluate, ... take their "
        "names) and the training recipes (sims/*.toml).",
    )
    p.set_defaults(func=cmd_list)
