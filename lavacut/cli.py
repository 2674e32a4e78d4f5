"""The ``lavacut`` command: one entry point, one subcommand per pipeline stage.

Every subcommand that runs an experiment takes ``--config FILE.toml`` (see
sims/) and ``--set key.sub=value`` overrides: one way to configure a run.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lavacut.util import LavacutError


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", metavar="FILE.toml", help="experiment config (e.g. sims/embedded_dense.toml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=3 (repeatable)")


def _config(args):
    from lavacut.config import load_config
    return load_config(args.config, args.overrides)


# ----------------------------------------------------------------------------- data
def cmd_data(args) -> int:
    from lavacut.data.sources import dataset_names, open_dataset

    if args.list:
        from lavacut.data.tonic_sets import DATASETS
        print("embedded      34x34x2, 10 classes: scikit-learn digits recorded by the saccade DVS emulator "
              "(built offline, cached)")
        for name, spec in DATASETS.items():
            w, h, p = spec.sensor_size
            print(f"{name:<13} {w}x{h}x{p}, {spec.n_classes} classes: {spec.description} "
                  f"(tonic.datasets.{spec.tonic_class_name}, read from data.root)")
        return 0
    cfg = _config(args)
    if cfg.data.dataset == "embedded":
        from lavacut.data.embedded import summary
        tr = open_dataset(cfg.data, "train")
        te = open_dataset(cfg.data, "test")
        s = summary(tr, te)
        _print_summary(s)
        if args.json:
            from lavacut.util import atomic_write_json
            atomic_write_json(args.json, s)
            print(f"summary written to {args.json}")
    else:
        ds = open_dataset(cfg.data, args.split)
        print(f"{cfg.data.dataset} {args.split}: {len(ds)} samples, sensor {tuple(ds.sensor_size)}")
    if args.plot:
        from lavacut.data.framing import frame_events
        from lavacut.data.show import plot_sample
        ds = open_dataset(cfg.data, args.split)
        ev, label = ds[args.index]
        fr = frame_events(ev, ds.sensor_size, cfg.framing, source=f"sample {args.index}")
        plot_sample(fr.astype(float), label, args.plot, title=f"{cfg.data.dataset} {args.split}[{args.index}]",
                    bin_ms=cfg.framing.bin_us / 1000)
        print(f"sample {args.index} ({len(ev)} events, label {label}) drawn to {args.plot}")
    return 0


def _print_summary(s: dict) -> None:
    print(f"data set     {s['name']}")
    print(f"sensor       {s['sensor_size'][0]}x{s['sensor_size'][1]}, {s['sensor_size'][2]} polarities")
    print(f"samples      {s['n_samples']} (train {s['n_train']}, test {s['n_test']}, stratified, seed {s['seed']})")
    print(f"class balance train {s['class_balance_train']}")
    print(f"              test  {s['class_balance_test']}")
    e = s["events_per_sample"]
    print(f"events/sample mean {e['mean']:.0f}, min {e['min']}, max {e['max']}; ON fraction {s['on_fraction']:.3f}; "
          f"duration {s['duration_ms']['mean']:.0f} ms")
    print(f"cache        {s['cache']}")


# ----------------------------------------------------------------------------- train
def cmd_train(args) -> int:
    from lavacut.train.trainer import train

    cfg = _config(args)
    run_dir = Path(args.out or Path("runs") / cfg.name)
    print(f"training {cfg.name}: {cfg.net.kind} net on {cfg.data.dataset}, loss {cfg.loss.name}, "
          f"RCS {'on (alpha ' + str(cfg.rcs.alpha) + ')' if cfg.rcs.enabled else 'off'}, "
          f"{cfg.train.epochs} epochs -> {run_dir}")
    r = train(cfg, run_dir, resume=args.resume)
    print(f"best validation accuracy {r.best_val_acc:.4f}; test accuracy at full T {r.test_acc:.4f}; "
          f"{r.train_seconds:.0f} s")
    print(f"checkpoints: {r.best_checkpoint} (best), {r.last_checkpoint} (last); "
          f"curve: {run_dir / 'training_curve.png'}")
    return 0


# ----------------------------------------------------------------------------- export / inspect
def cmd_export(args) -> int:
    if args.format == "nir":
        from lavacut.export.nir_graph import DEFAULT_DT, write_nir

        src = Path(args.checkpoint)
        out = Path(args.output) if args.output else Path("netx_exports") / f"{args.name or src.stem}.nir"
        dt = DEFAULT_DT if args.dt is None else ("bin" if args.dt == "bin" else float(args.dt))
        path, graph = write_nir(src, out, dt=dt)
        print(f"exported {src} -> {path} (NIR graph: {len(graph.nodes)} nodes; read back with nir.read, "
              f"type-checked)")
        return 0
    from lavacut.export.exporter import export_checkpoint

    path, meta = export_checkpoint(args.checkpoint, args.output, args.name)
    print(f"exported {args.checkpoint} -> {path} (test accuracy at full T, SLAYER: "
          f"{meta['accuracy']['test_full_T_slayer']:.4f})")
    return 0


def cmd_import(args) -> int:
    from lavacut.config import load_config
    from lavacut.export.nir_graph import format_import_report, import_nir

    cfg = load_config(args.config, args.overrides) if args.config else None
    dt = None if args.dt is None else ("bin" if args.dt == "bin" else float(args.dt))
    path, meta = import_nir(args.file, args.output, dt=dt, threshold=args.threshold,
                            input_shape=tuple(args.input_shape) if args.input_shape else None, cfg=cfg,
                            overrides=None if args.config else args.overrides, name=args.name,
                            evaluate=not args.no_evaluate, progress=True)
    print(format_import_report(meta))
    print(f"NetX export: {path}")
    return 0


def cmd_verify(args) -> int:
    from lavacut.export.verify import verify_export

    cfg = _config(args) if (args.config or args.overrides) else None
    res = verify_export(args.file, samples=args.samples, split=args.split, cfg=cfg, backend=args.backend)
    print(res.format())
    if args.report:
        from lavacut.util import atomic_write_json
        atomic_write_json(args.report, res.summary())
        print(f"report: {args.report}")
    return 0 if res.n_identical == res.n_samples else 1


def cmd_inspect(args) -> int:
    from lavacut.export.inspect import format_inspection

    print(format_inspection(args.file))
    return 0


# ----------------------------------------------------------------------------- calibrate / evaluate
def _policy_params(items: list[str]) -> dict:
    """--param name=value (TOML values: numbers, lists) -> dict."""
    from lavacut.config import _parse_override
    return dict(_parse_override(i) for i in items or [])


def cmd_calibrate(args) -> int:
    from lavacut.measure.calibrate_export import calibrate_export

    cfg = _config(args) if (args.config or args.overrides) else None
    summary = calibrate_export(args.file, eps=args.eps, alpha=args.alpha, default_policy=args.default,
                               split=args.split, cfg=cfg, risk_delta=args.risk_delta,
                               risk_confidence=args.risk_confidence)
    for line in summary:
        print(line)
    return 0


def cmd_evaluate(args) -> int:
    from lavacut.measure.evaluate import evaluate_export, write_outputs

    cfg = _config(args) if (args.config or args.overrides) else None
    rep, t_c, pred, labels = evaluate_export(args.file, engine=args.engine, split=args.split,
                                             samples=args.samples, policy=args.policy,
                                             params=_policy_params(args.param), cfg=cfg, backend=args.backend,
                                             mode=args.mode)
    written = write_outputs(rep, args.report, t_c, pred, labels)
    print_termination_summary(rep)
    print("report: " + ", ".join(str(p) for p in written))
    return 0


def print_termination_summary(rep: dict) -> None:
    print(f"{rep['n_samples']} samples, T={rep['T']}, policy {rep['policy']} ({rep.get('engine', 'lava')} engine)")
    print(f"accuracy  full T {100 * rep['accuracy_full']:.2f} %   with cutoff {100 * rep['accuracy_cutoff']:.2f} %   "
          f"(drop {100 * (rep['accuracy_full'] - rep['accuracy_cutoff']):.2f} pp)")
    line = f"timesteps mean {rep['mean_t_cutoff']:.2f} of {rep['T']}  ->  {rep['timestep_ratio']:.2f}x fewer"
    if "mean_oct" in rep:
        line += (f";  oracle mean OCT {rep['mean_oct']:.2f};  best static T'={rep['static_truncation']['T_prime']} "
                 f"({rep['ratio_vs_static_truncation']:.2f}x vs T')")
    print(line)
    if rep.get("wall_s_cutoff"):
        print(f"wall-clock full {rep['wall_s_full']:.2f} s, with cutoff {rep['wall_s_cutoff']:.2f} s  ->  "
              f"{rep['wall_ratio']:.2f}x faster ({rep.get('backend')})")
    ops = rep.get("operations")
    if ops:
        print(f"synaptic ops/sample {ops['synops_full_mean']:.3g} -> {ops['synops_cutoff_mean']:.3g} "
              f"({ops['synops_ratio']:.2f}x); energy estimate {ops['energy_uj_full_mean']:.2f} -> "
              f"{ops['energy_uj_cutoff_mean']:.2f} uJ/sample")


# ----------------------------------------------------------------------------- run
def cmd_run(args) -> int:
    from lavacut.runtime.run_export import run_export
    from lavacut.util import atomic_write_json

    cfg = _config(args) if (args.config or args.overrides) else None
    table = 0 < args.samples <= 30

    def on_sample(i, t_c, pred):
        if table:
            print(f"  sample {i:4d}  t_c {t_c:3d}  pred {pred:3d}", flush=True)

    if table:
        print("per sample (cutoff run):")
    rep, full, cut = run_export(args.file, split=args.split, samples=args.samples, mode=args.mode,
                                policy=args.policy, params=_policy_params(args.param), cfg=cfg,
                                backend=args.backend, progress=not table, on_sample=on_sample)
    if table and args.mode == "stream":
        for i, (t, p, y) in enumerate(zip(cut.t_c, cut.pred, cut.labels)):
            print(f"  sample {i:4d}  t_c {int(t):3d}  pred {int(p):3d}  label {int(y)}")
    atomic_write_json(args.report, rep)
    print_termination_summary(rep)
    if rep.get("note"):
        print(rep["note"])
    print(f"report: {args.report}")
    return 0


# ----------------------------------------------------------------------------- experiments
def cmd_experiments(args) -> int:
    from lavacut.measure.experiments import run_experiments

    table = run_experiments(args.only or None, retrain=args.retrain, lava_samples=args.lava_samples)
    print(f"results table: {table}")
    return 0


# ----------------------------------------------------------------------------- demo
def cmd_demo(args) -> int:
    """The main job on the embedded default (README's first command): data,
    the shipped export, the Lava CPU simulation with the cutoff monitor on a
    test subset, and the termination summary."""
    from lavacut.data.embedded import summary
    from lavacut.data.sources import open_dataset
    from lavacut.measure.evaluate import plot_report
    from lavacut.runtime.run_export import run_export
    from lavacut.util import atomic_write_json

    cfg = _config(args)
    print("== 1. events in: the embedded data set (built on first use, then cached)")
    tr, te = open_dataset(cfg.data, "train"), open_dataset(cfg.data, "test")
    _print_summary(summary(tr, te))
    export = Path(args.export)
    if not export.is_file():
        raise LavacutError(f"{export} is missing: it ships with the project (regenerate it with "
                           f"'lavacut experiments --only embedded_dense')")
    print(f"\n== 2. the shipped export {export}")
    from lavacut.export.netx_file import read_metadata
    meta = read_metadata(export)
    print(f"   {meta['name']}: trained on {meta['dataset']}, test accuracy at full T (SLAYER) "
          f"{100 * meta['accuracy']['test_full_T_slayer']:.2f} %, calibrated policy {meta.get('default_policy')}")
    print(f"\n== 3. Lava CPU simulation (Loihi2SimCfg fixed_pt) with the CutoffMonitor, {args.samples} test "
          f"samples, {args.mode} mode: full T, then with the cutoff")
    rep, full, cut = run_export(export, split="test", samples=args.samples, mode=args.mode, cfg=None)
    out = Path(args.report)
    atomic_write_json(out, rep)
    plots = plot_report(rep, out.with_suffix(""))
    print("\n== 4. termination summary")
    print_termination_summary(rep)
    print(f"report: {out}; plots: {', '.join(str(p) for p in plots)}")
    return 0


# ----------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lavacut",
        description="Train event-driven SNNs with lava-dl SLAYER, export them to NetX, and stop inference "
                    "early on Lava (CPU simulation or Loihi 2) with a calibrated cutoff monitor.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("data", help="list data sets, build the embedded one and print its summary, draw a sample",
                       description="Without options: build (or load from cache) the configured data set and print "
                                   "its size, split, class balance and event statistics. Data sets (data.dataset): "
                                   "embedded (default, offline: scikit-learn digits through the saccade DVS "
                                   "emulator), nmnist, dvsgesture, cifar10dvs, ncaltech101 (read from data.root "
                                   "in tonic's layout; --list says more).")
    _add_config_args(p)
    p.add_argument("--list", action="store_true", help="list the data sets lavacut reads")
    p.add_argument("--split", default="test", choices=["train", "test"], help="split for --plot")
    p.add_argument("--index", type=int, default=0, help="sample index for --plot")
    p.add_argument("--plot", metavar="PATH.png|PATH.gif", help="draw one sample's frames to a PNG strip or GIF")
    p.add_argument("--json", metavar="PATH", help="also write the summary as JSON")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train", help="train a SLAYER network (task loss + optional RCS regulariser)",
                       description="Train per a config (sims/*.toml) with --set overrides. Writes best.pt and "
                                   "last.pt (atomic), metrics.json and training_curve.png to --out "
                                   "(default runs/<name>). --resume continues from last.pt.")
    _add_config_args(p)
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/<config name>)")
    p.add_argument("--resume", action="store_true", help="continue from DIR/last.pt after an interruption")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("export", help="export a checkpoint to NetX HDF5 (default) or a NIR graph",
                       description="netx: writes netx_exports/<name>.net (atomically), a NetX file stock "
                                   "lava.lib.dl.netx.hdf5.Network loads, plus a 'lavacut' metadata group. "
                                   "nir: writes a NIR graph (CubaLIF/Affine/Conv2d/Flatten) from a checkpoint "
                                   "or a lavacut .net, with the cutoff calibration in its metadata.")
    p.add_argument("checkpoint", metavar="SOURCE",
                   help="a checkpoint written by 'lavacut train' (best.pt), or a lavacut .net for --format nir")
    p.add_argument("--format", choices=["netx", "nir"], default="netx")
    p.add_argument("-o", "--output", metavar="PATH", help="output file (default netx_exports/<name>.net|.nir)")
    p.add_argument("--name", help="export name (default: the config name)")
    p.add_argument("--dt", help="NIR only: seconds per time step (default 1e-4, snnTorch's convention) or 'bin' "
                                "(the framing bin)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="convert a NIR graph (snnTorch, Norse, ...) into a SLAYER net and a NetX export",
                       description="CubaLIF, LIF, IF, Affine/Linear, Conv2d, Flatten, SumPool2d/AvgPool2d "
                                   "(folded into convolutions). Unsupported nodes, parameters CUBA cannot hold and "
                                   "shapes that do not chain are errors naming the node. Bind the data set it "
                                   "runs on with --config/--set (e.g. --set data.dataset=embedded).")
    _add_config_args(p)
    p.add_argument("file", help="a .nir file")
    p.add_argument("-o", "--output", metavar="PATH.net", help="NetX output (default netx_exports/<name>.net)")
    p.add_argument("--name", help="network name (default: the file stem)")
    p.add_argument("--dt", help="seconds per time step (default: from the graph's metadata or its taus)")
    p.add_argument("--threshold", type=float, help="shared CUBA threshold (default: chosen losslessly if possible)")
    p.add_argument("--input-shape", type=int, nargs=3, metavar=("C", "H", "W"), help="frame shape if the graph has none")
    p.add_argument("--no-evaluate", action="store_true", help="skip measuring test accuracy after import")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("verify", help="check that Lava fixed_pt reproduces SLAYER's output spikes exactly",
                       description="Runs N samples through the Lava CPU simulation (one compiled graph, state "
                                   "reset on the graph between samples) and through the SLAYER model rebuilt "
                                   "from the same file; reports per sample whether the output spike trains are "
                                   "identical and where they first differ. Exit status 1 on any mismatch.")
    _add_config_args(p)
    p.add_argument("file", help="a NetX .net file")
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--split", default="test", choices=["train", "test"])
    p.add_argument("--backend", choices=["cpu", "loihi2"], default="cpu")
    p.add_argument("--report", metavar="PATH", help="also write the summary as JSON")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("inspect", help="print a NetX file's layers, metadata and Loihi 2 resource estimate",
                       description="Works on any NetX file; layer types netx cannot load are listed as "
                                   "unsupported.")
    p.add_argument("file", help="a .net file")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("calibrate", help="calibrate the stop rules on the training split and store them "
                                         "in the export",
                       description="Top-K per-step beta(t) for tolerance --eps (METHOD.md), softmax temperature, "
                                   "confidence/entropy thresholds, SpikeCP thresholds for --alpha, and optionally a "
                                   "risk-controlled Top-K choice (--risk-delta). Never uses the test split.")
    _add_config_args(p)
    p.add_argument("file", help="a lavacut .net export")
    p.add_argument("--eps", type=float, default=0.02, help="Top-K tolerance eps (default 0.02)")
    p.add_argument("--alpha", type=float, default=0.05, help="SpikeCP miscoverage alpha (default 0.05)")
    p.add_argument("--default", default="topk", help="rule 'lavacut run' uses without --policy (default topk)")
    p.add_argument("--split", default="train", choices=["train"], help="calibration split (train)")
    p.add_argument("--risk-delta", type=float, default=None, metavar="D",
                   help="also pick the most aggressive Top-K eps whose accuracy drop is <= D with "
                        "--risk-confidence (Learn-then-Test)")
    p.add_argument("--risk-confidence", type=float, default=0.9)
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("evaluate", help="measure termination on a split: accuracy, timesteps, oracle, static "
                                        "truncation, sweeps, synops, energy (JSON + CSV + PNG)")
    _add_config_args(p)
    p.add_argument("file", help="a NetX .net file")
    p.add_argument("--engine", choices=["torch", "lava"], default="torch",
                   help="torch: batched SLAYER (fast); lava: the Lava runtime with the cutoff monitor")
    p.add_argument("--split", default="test", choices=["train", "test"])
    p.add_argument("--samples", type=int, default=0, help="first N samples (0 = all)")
    p.add_argument("--policy", choices=["topk", "confidence", "entropy", "conformal", "fixed"],
                   help="stop rule (default: the export's calibrated default, else fixed T)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="stop-rule parameter, e.g. --param eps=0.05 (repeatable)")
    p.add_argument("--backend", choices=["cpu", "loihi2"], default="cpu")
    p.add_argument("--mode", choices=["halt", "stream"], default="halt")
    p.add_argument("--report", default="reports/evaluate.json", help="JSON report path (CSV/PNG beside it)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("run", help="run a NetX file in Lava with the cutoff monitor (full T vs cutoff)",
                       description="One compiled graph per split: sample source -> NetX network -> CutoffMonitor. "
                                   "halt: the monitor pauses the runtime at each decision; stream: samples "
                                   "switch on the graph with no host round trip. Uses the export's calibrated "
                                   "stop rule unless --policy is given; a NetX file without lavacut metadata "
                                   "needs --config (data set, framing) and --policy parameters, or runs fixed T.")
    _add_config_args(p)
    p.add_argument("file", help="a NetX .net file")
    p.add_argument("--split", default="test", choices=["train", "test"])
    p.add_argument("--samples", type=int, default=0, help="first N samples (0 = all); <= 30 prints a table")
    p.add_argument("--mode", choices=["halt", "stream"], default="halt")
    p.add_argument("--policy", choices=["topk", "confidence", "entropy", "conformal", "fixed"])
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="stop-rule parameter, e.g. --param eps=0.05 (repeatable)")
    p.add_argument("--backend", choices=["cpu", "loihi2"], default="cpu",
                   help="cpu: Loihi2SimCfg fixed_pt; loihi2: Loihi2HwCfg (needs lava-loihi; untested on a chip)")
    p.add_argument("--report", default="reports/run.json", help="JSON report path")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("experiments", help="regenerate the recorded experiments in sims/results/",
                       description="For sims/embedded_{dense,conv}[_rcs].toml: train (unless runs/<name>/best.pt "
                                   "exists or --retrain), export to netx_exports/, calibrate, evaluate every stop "
                                   "rule (torch engine) and the calibrated Top-K in Lava; write sims/results/.")
    p.add_argument("--only", action="append", metavar="NAME", help="run only this experiment (repeatable)")
    p.add_argument("--retrain", action="store_true", help="train again even if a checkpoint exists")
    p.add_argument("--lava-samples", type=int, default=0, help="test samples for the Lava runs (0 = all)")
    p.set_defaults(func=cmd_experiments)

    p = sub.add_parser("demo", help="the main job on the embedded default, end to end",
                       description="Build the embedded data set if needed, take the shipped export from "
                                   "netx_exports/, run the Lava CPU simulation with the cutoff monitor on a test "
                                   "subset (full T and with cutoff) and print the termination summary.")
    _add_config_args(p)
    p.add_argument("--export", default="netx_exports/embedded_dense.net", help="the NetX export to run")
    p.add_argument("--samples", type=int, default=300, help="test samples (default 300)")
    p.add_argument("--mode", choices=["halt", "stream"], default="halt")
    p.add_argument("--report", default="reports/demo.json", help="JSON report path (plots beside it)")
    p.set_defaults(func=cmd_demo)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except LavacutError as exc:
        print(f"lavacut {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lavacut {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
