"""The ``lavacut`` command: one entry point, one subcommand per pipeline stage.

Every subcommand that runs an experiment takes ``--config FILE.toml`` (see
sims/) and ``--set key.sub=value`` overrides: one way to configure a run.
Each command imports its pipeline when it runs: they pull in torch and Lava,
which ``lavacut --help`` should not wait for.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import shutil
import signal
import sys
import threading
from pathlib import Path

from lavacut.config import MAX_TASKS, load_config, max_workers, parse_override
from lavacut.util import (LavacutError, Terminated, atomic_write_json, check_input_file, check_name, check_outputs,
                          first_line)
from lavacut.progress import set_quiet


def _add_input_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", metavar="PATH",
                   help="your own data instead of a data set split: frames (.npy (N, *input, T) or one sample "
                        "(*input, T); .npz with frames, labels, classes) or event recordings (a file, or a folder "
                        "with one subfolder per class: tonic .npy, N-MNIST .bin, .aedat4, Prophesee .dat/.raw); "
                        "framing from [framing] / --set framing.*, sensor from the files or --set data.sensor")


def _probability(lo_closed: bool, hi_closed: bool):
    """An argparse type: a number in the unit interval with the given ends."""
    text = f"{'[' if lo_closed else '('}0, 1{']' if hi_closed else ')'}"

    def parse(raw: str) -> float:
        try:
            v = float(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number in {text}, got {raw!r}") from None
        if not ((0 <= v if lo_closed else 0 < v) and (v <= 1 if hi_closed else v < 1)):
            raise argparse.ArgumentTypeError(f"must be in {text}, got {raw}")
        return v

    return parse


def _eps_or_auto(raw: str):
    """An argparse type for --eps: a number in [0, 1), or ``auto``."""
    return "auto" if raw == "auto" else _probability(True, False)(raw)


def _at_least_zero(kind):
    """An argparse type: a finite number (``kind`` int or float) >= 0."""
    what = "an integer" if kind is int else "a number"

    def parse(raw: str):
        try:
            v = kind(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what} >= 0, got {raw!r}") from None
        if not v >= 0 or v == float("inf"):
            raise argparse.ArgumentTypeError(f"must be {what} >= 0, got {raw}")
        return v

    return parse


def _workers(raw: str) -> int:
    """An argparse type for --workers: 1 .. MAX_TASKS (the local executor's
    bound, the CPU cores, is checked by :func:`_check_local_workers`)."""
    try:
        v = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer in 1..{MAX_TASKS}, got {raw!r}") from None
    if not 1 <= v <= MAX_TASKS:
        raise argparse.ArgumentTypeError(f"must be in 1..{MAX_TASKS} (tasks in flight; the local executor: "
                                         f"at most the {max_workers()} CPU cores here), got {v}")
    return v


def _check_local_workers(args) -> None:
    """--workers on the local executor: at most the CPU cores (each worker
    is a whole Lava graph); more are for --executor ray."""
    workers, executor = getattr(args, "workers", None), getattr(args, "executor", None)
    ray_in_config = args.config is not None or any(o.startswith("run.executor") for o in
                                                   getattr(args, "overrides", []) or [])
    if workers and workers > max_workers() and executor != "ray" and not (executor is None and ray_in_config):
        raise LavacutError(f"argument --workers: must be in 1..{max_workers()} (the CPU cores here) on the local "
                           f"executor, got {workers}; more shards run on --executor ray")


def _positive_number(raw: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        v = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {raw!r}") from None
    if not 0 < v < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {raw}")
    return v


def _dt_arg(raw: str):
    """An argparse type for --dt: seconds per step (> 0), or ``bin``."""
    return "bin" if raw == "bin" else _positive_number(raw)


def _add_run_args(p: argparse.ArgumentParser) -> None:
    """What to run and how: the options of ``run`` and ``evaluate``."""
    p.add_argument("--split", default=None, choices=["train", "test"], help="default: [run] split (test)")
    p.add_argument("--samples", type=int, default=None,
                   help="first N samples (0 = all; default [run] samples); run prints a table for <= 30")
    p.add_argument("--policy", choices=["topk", "confidence", "entropy", "conformal", "fixed"],
                   help="stop rule (default: the export's calibrated default, else fixed T)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="stop-rule parameter, e.g. --param eps=0.05 (repeatable; the others stay calibrated)")
    p.add_argument("--mode", choices=["halt", "stream"], default=None, help="default: [run] mode (halt)")
    p.add_argument("--backend", choices=["cpu", "loihi2"], default=None,
                   help="cpu: Loihi2SimCfg fixed_pt; loihi2: Loihi2HwCfg (needs lava-loihi; untested on a chip); "
                        "default: [run] backend")
    _add_models_arg(p)
    p.add_argument("--workers", type=_workers, default=None, metavar="N",
                   help="shard the split over N worker processes, each with its own compiled Lava graph; same "
                        "decisions, merged in order (default: [run] workers, 1)")
    _add_force(p)
    _add_lanes_arg(p)
    _add_executor_args(p)


def _add_lanes_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lanes", type=_at_least_zero(int), default=None, metavar="B",
                   help="samples side by side in one Lava step (fused network, models fast), each with its own "
                        "cutoff; same decisions as 1 lane (default: [run] lanes, 0 = automatic)")

def _add_executor_args(p: argparse.ArgumentParser, what: str = "the shards of --workers",
                       default: str = "[run] executor, local") -> None:
    p.add_argument("--executor", choices=["local", "ray"], default=None,
                   help=f"where {what} run: local (forked on this machine) or ray (Ray tasks on the cluster at "
                        f"--ray-address / RAY_ADDRESS, else on a Ray started here; needs lavacut[ray]); "
                        f"default: {default}")
    p.add_argument("--ray-address", metavar="HOST:PORT", default=None,
                   help="the Ray cluster to join (default: $RAY_ADDRESS); lavacut never stops a cluster it joined")


def _ray_address(args) -> None:
    """--ray-address: Ray reads its cluster's address from RAY_ADDRESS."""
    if getattr(args, "ray_address", None):
        os.environ["RAY_ADDRESS"] = args.ray_address


def _add_models_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", choices=["fast", "fast-procs", "stock"], default=None,
                   help="Lava ProcessModels on cpu: fast (the network as one fused Lava process, else fast-procs), "
                        "fast-procs (lavacut's vectorised models for netx's processes), stock (Lava's own); all "
                        "spike-exact; default: [run] models (fast)")


def _add_force(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true",
                   help="run a file whose values break Loihi 2's ranges ('lavacut check' errors such as a bias "
                        "beyond 13 bits or delays beyond 62) anyway, with a warning: netx clamps or truncates them")


def _add_accept_modified(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--accept-modified", action="store_true",
                   help=f"the file's layers were changed after export on purpose: {what}")


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", metavar="FILE.toml", help="experiment config (e.g. sims/embedded_dense.toml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=3 (repeatable)")


def _config(args):
    return load_config(args.config, args.overrides)


def _check_io(args, outputs=(), inputs=()) -> None:
    """Before any work: no input is a FIFO, socket or device (a folder is
    named by the command that reads it), every output is writable and none
    of them is an input (an output never replaces an input), and no output
    is a shipped export.
    ``outputs``, ``inputs``: (path, option) pairs; --config and --input are
    added here."""
    from lavacut.shipped import check_not_shipped

    if getattr(args, "input", None) is not None:
        check_input_file(args.input, "--input", folder=True)
        if getattr(args, "split", None) is not None and args.command != "calibrate":
            raise LavacutError(f"--split {args.split} picks a split of the export's data set; --input "
                               f"{args.input} is your own data: give one of them")
    inputs = [(getattr(args, "config", None), "--config"), (getattr(args, "input", None), "--input"), *inputs]
    for path, what in inputs:
        if path is not None and what != "--input":
            check_input_file(path, what, folder=True)   # a folder: the command's own message names it
    check_outputs(outputs, inputs)
    for path, what in outputs:
        if path is not None:
            check_not_shipped(path, what, hint="give another path")


def _request(args, samples=None, outputs=()):
    """The RunRequest of a command that runs an export, its inputs and
    ``outputs`` checked first (:func:`_check_io`)."""
    from lavacut.pipelines.run import RunRequest
    from lavacut.shipped import resolve_export

    # a path, or the name of a shipped export (embedded_dense) from any folder; calibrate writes into the
    # file, which is refused for a shipped export
    path = check_input_file(resolve_export(args.file, writable=args.command == "calibrate"), "FILE", folder=True)
    if args.command == "calibrate":
        outputs = [(path, "FILE")]              # it writes into FILE: FILE is its output
    _check_io(args, outputs, [] if args.command == "calibrate" else [(path, "FILE")])
    return RunRequest(path=path,
                      config_path=args.config, overrides=tuple(args.overrides),
                      user_input=getattr(args, "input", None), split=getattr(args, "split", None),
                      samples=getattr(args, "samples", None) if samples is None else samples,
                      force=getattr(args, "force", False))


# ----------------------------------------------------------------------------- data
def cmd_data(args) -> int:
    from lavacut.pipelines.stages import data_summary, dataset_lines, draw_sample

    if args.list:
        print("\n".join(dataset_lines()))
        return 0
    if args.plot and Path(args.plot).suffix.lower() not in (".png", ".gif"):
        raise LavacutError(f"--plot {args.plot}: give a .png (a strip of frames) or a .gif (an animation)")
    _check_io(args, [(args.json, "--json"), (args.plot, "--plot")])
    cfg = _config(args)
    s = data_summary(cfg, args.split)
    if "n_train" in s:
        _print_summary(s)
    else:
        print(f"{s['name']} {s['split']}: {s['n_samples']} samples, sensor {tuple(s['sensor_size'])}")
    if args.json:
        atomic_write_json(args.json, s)
        print(f"summary written to {args.json}")
    if args.plot:
        n_events, label = draw_sample(cfg, args.split, args.index, args.plot)
        print(f"sample {args.index} ({n_events} events, label {label}) drawn to {args.plot}")
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
    from lavacut.pipelines.stages import train

    cfg = _config(args)
    run_dir = Path(args.out or Path("runs") / cfg.name)
    if run_dir.exists() and not run_dir.is_dir():
        raise LavacutError(f"--out {run_dir} is a file; give a folder for the run")
    _check_io(args, [(run_dir / f, "--out") for f in ("best.pt", "last.pt", "metrics.json", "training_curve.png")])
    print(f"training {cfg.name}: {cfg.net.kind} net on {cfg.data.dataset}, loss {cfg.loss.name}, "
          f"RCS {'on (alpha ' + str(cfg.rcs.alpha) + ')' if cfg.rcs.enabled else 'off'}, "
          f"{cfg.train.epochs} epochs -> {run_dir}")
    # the outermost folder this run creates: removed again if training fails before a checkpoint
    created = next((d for d in reversed([run_dir, *run_dir.parents]) if not d.exists()), None)
    try:
        r = train(cfg, run_dir, resume=args.resume)
    except BaseException:
        if (run_dir / "last.pt").is_file():
            argv = [a for a in sys.argv[1:] if a not in ("--resume", "--debug")]
            args.interrupt_hint = (f"; {run_dir / 'last.pt'} holds the last finished epoch: continue with "
                                   f"'lavacut {shlex.join(argv)} --resume'")
        elif created is not None and created.is_dir():
            shutil.rmtree(created, ignore_errors=True)   # nothing to resume from: leave no empty run folder
        raise
    print(f"best validation accuracy {r.best_val_acc:.4f}; test accuracy at full T {r.test_acc:.4f}; "
          f"{r.train_seconds:.0f} s")
    print(f"checkpoints: {r.best_checkpoint} (best), {r.last_checkpoint} (last); "
          f"curve: {run_dir / 'training_curve.png'}")
    return 0


# ----------------------------------------------------------------------------- export / import / inspect
def cmd_export(args) -> int:
    from lavacut.shipped import resolve_export

    if args.name is not None:
        check_name(args.name, "--name")
    if args.format == "nir":
        from lavacut.export.nir import DEFAULT_DT, write_nir

        src = resolve_export(args.checkpoint)     # a path, or a shipped export's name
        out = Path(args.output) if args.output else Path("netx_exports") / f"{args.name or src.stem}.nir"
        _check_io(args, [(out, "-o" if args.output else "the NIR output")], [(src, "SOURCE")])
        path, graph = write_nir(src, out, dt=args.dt or DEFAULT_DT)
        print(f"exported {src} -> {path} (NIR graph: {len(graph.nodes)} nodes; read back with nir.read, "
              f"type-checked)")
        return 0
    from lavacut.pipelines.stages import export_checkpoint

    _check_io(args, [(args.output, "-o")], [(args.checkpoint, "SOURCE")])
    path, meta = export_checkpoint(args.checkpoint, args.output, args.name, check_out=lambda out: _check_io(
        args, [(out, "-o" if args.output else "the export")], [(args.checkpoint, "SOURCE")]))
    print(f"exported {args.checkpoint} -> {path} (test accuracy at full T, SLAYER: "
          f"{meta['accuracy']['test_full_T_slayer']:.4f})")
    from lavacut.pipelines.check import export_warnings

    for line in export_warnings(path):          # the Loihi 2 design-rule check, as warnings
        print(line, file=sys.stderr if line.startswith("warning") else sys.stdout)
    return 0


def cmd_check(args) -> int:
    from lavacut.pipelines.check import check_export
    from lavacut.shipped import resolve_export

    args.file = resolve_export(args.file)       # a path, or a shipped export's name
    report = Path(args.report) if args.report else None
    _check_io(args, [(report, "--report"), (report and report.with_suffix(".png"), "--report's core map")],
              [(args.file, "FILE")])
    rep, written = check_export(args.file, target=args.target, report=args.report, replicas=args.replicas)
    print(rep.format())
    if written:
        print(f"report: {written[0]}; core map: {written[1]}")
    return 0 if rep.ok else 1


def cmd_import(args) -> int:
    from lavacut.export.nir import format_import_report, import_nir

    if args.name is not None:
        check_name(args.name, "--name")
    _check_io(args, [(args.output, "-o")], [(args.file, "FILE")])
    cfg = load_config(args.config, args.overrides) if args.config else None
    path, meta = import_nir(args.file, args.output, dt=args.dt, threshold=args.threshold,
                            input_shape=tuple(args.input_shape) if args.input_shape else None, cfg=cfg,
                            overrides=None if args.config else args.overrides, name=args.name,
                            evaluate=not args.no_evaluate, progress=True, check_out=lambda out: _check_io(
                                args, [(out, "-o" if args.output else "the NetX output")], [(args.file, "FILE")]))
    print(format_import_report(meta))
    print(f"NetX export: {path}")
    return 0


def cmd_inspect(args) -> int:
    from lavacut.pipelines.stages import file_problems, format_inspection
    from lavacut.shipped import resolve_export

    args.file = str(resolve_export(args.file))   # a path, or a shipped export's name
    check_input_file(args.file, "FILE", folder=True)    # a folder: format_inspection names it

    print(format_inspection(args.file))
    return 1 if file_problems(args.file) else 0


def cmd_list(args) -> int:
    from lavacut.pipelines.listing import format_listing

    print(format_listing())
    return 0


# ----------------------------------------------------------------------------- verify / calibrate / evaluate / run
def cmd_verify(args) -> int:
    from lavacut.pipelines.verify import verify_export

    req = dataclasses.replace(_request(args, outputs=[(args.report, "--report")]),
                              accept_modified=args.accept_modified)
    _ray_address(args)
    res = verify_export(req, backend=args.backend, models=args.models, lanes=args.lanes, workers=args.workers,
                        executor=args.executor)
    print(res.format())
    if args.report:
        atomic_write_json(args.report, res.summary())
        print(f"report: {args.report}")
    return 0 if res.n_identical == res.n_samples else 1


def _policy_params(items: list[str]) -> dict:
    """--param name=value (TOML values: numbers, lists) -> dict."""
    return dict(parse_override(i) for i in items or [])


def cmd_calibrate(args) -> int:
    from lavacut.pipelines.calibrate import calibrate_export

    req = dataclasses.replace(_request(args, samples=0), accept_modified=args.accept_modified)
    _ray_address(args)
    summary = calibrate_export(req, eps=args.eps, alpha=args.alpha,
                               default_policy=args.default, risk_delta=args.risk_delta,
                               risk_confidence=args.risk_confidence, max_drop_pp=args.max_drop_pp,
                               workers=args.workers, executor=args.executor)
    print("\n".join(summary))
    return 0


def cmd_evaluate(args) -> int:
    from lavacut.pipelines.evaluate import evaluate_export
    from lavacut.pipelines.reports import print_termination_summary, report_paths, write_report

    _ray_address(args)
    for key in ("models", "workers", "lanes", "executor"):       # evaluate reads them from [run]
        if getattr(args, key, None) is not None:
            args.overrides = list(args.overrides) + [f"run.{key}={getattr(args, key)}"]
    rep = evaluate_export(_request(args, outputs=[(p, "--report") for p in report_paths(args.report)]),
                          engine=args.engine, policy=args.policy,
                          params=_policy_params(args.param), backend=args.backend, mode=args.mode,
                          neurobench=not args.no_neurobench, with_sweeps=not args.no_sweeps)
    written = write_report(rep, args.report)
    print_termination_summary(rep)
    print("report: " + ", ".join(str(p) for p in written))
    return 0


def cmd_run(args) -> int:
    from lavacut.pipelines.reports import print_termination_summary, report_paths, write_report
    from lavacut.pipelines.run import run_export

    req = _request(args, outputs=[(p, "--report") for p in report_paths(args.report, plots=False)])
    _ray_address(args)
    table = args.samples is not None and 0 < args.samples <= 30

    def on_sample(i, t_c, pred):
        if table:
            print(f"  sample {i:4d}  t_c {t_c:3d}  pred {pred:3d}", flush=True)

    rep, full, cut = run_export(req, mode=args.mode, policy=args.policy,
                                params=_policy_params(args.param), backend=args.backend, progress=not table,
                                on_sample=on_sample if table else None, models=args.models, workers=args.workers,
                                lanes=args.lanes, executor=args.executor)
    if table and rep["mode"] == "stream":
        for r in rep["per_sample"]:
            print(f"  sample {r['index']:4d}  t_c {r['t_c']:3d}  pred {r['pred']:3d}  label {r['label']}")
    written = write_report(rep, args.report, plots=False)
    print_termination_summary(rep)
    if rep.get("note"):
        print(rep["note"])
    print("report: " + ", ".join(str(p) for p in written))
    return 0


# ----------------------------------------------------------------------------- experiments / rcs-sweep / demo
def cmd_experiments(args) -> int:
    from lavacut.pipelines.experiments import run_experiments

    _ray_address(args)
    table = run_experiments(args.only or None, retrain=args.retrain, lava_samples=args.lava_samples,
                            executor=args.executor or "local", workers=args.workers)
    print(f"results table: {table}")
    return 0


def cmd_rcs_sweep(args) -> int:
    from lavacut.pipelines.rcs_sweep import run_rcs_sweep

    _ray_address(args)
    path = run_rcs_sweep(args.only or None, alphas=args.alphas, seeds=args.seeds, drop_pp=args.drop_pp,
                         overrides=args.overrides, executor=args.executor or "local", workers=args.workers)
    print(f"results: {path}, {path.with_suffix('.png')}, {path.with_suffix('.md')}")
    return 0


def cmd_demo(args) -> int:
    """The main job on the embedded default (README's first command): data,
    the shipped export, the Lava CPU simulation with the cutoff monitor on a
    test subset, and the termination summary."""
    from lavacut.pipelines.reports import print_termination_summary, report_paths, write_report
    from lavacut.pipelines.run import RunRequest, describe_export, run_export
    from lavacut.pipelines.stages import data_summary
    from lavacut.shipped import resolve_export

    export = resolve_export(args.export)   # the clone's netx_exports/, else the installed package's copy
    _check_io(args, [(p, "--report") for p in report_paths(args.report)], [(export, "--export")])
    cfg = _config(args)
    print("== 1. events in: the embedded data set (built on first use, then cached)")
    _print_summary(data_summary(cfg, "test"))
    if not export.is_file():
        raise LavacutError(f"{export} is missing: it ships with the project (regenerate it with "
                           f"'lavacut experiments --only embedded_dense')")
    print(f"\n== 2. the shipped export {export}")
    print("   " + describe_export(export))
    print(f"\n== 3. Lava CPU simulation (Loihi2SimCfg fixed_pt) with the CutoffMonitor, {args.samples} test "
          f"samples, {args.mode} mode: full T, then with the cutoff")
    rep, full, cut = run_export(RunRequest(export, split="test", samples=args.samples), mode=args.mode,
                                backend="cpu", lanes=args.lanes)
    written = write_report(rep, args.report)
    print("\n== 4. termination summary")
    print_termination_summary(rep)
    print("report: " + ", ".join(str(p) for p in written))
    return 0


# ----------------------------------------------------------------------------- main
def version_text() -> str:
    """What ``lavacut --version`` prints: lavacut (and where it runs from),
    lava-nc, lava-dl, torch and Python."""
    import lavacut
    from lavacut.util import versions

    v = versions()
    return "\n".join([f"lavacut {lavacut.__version__} ({Path(lavacut.__file__).parent})",
                      *(f"{dist} {v[dist]}" for dist in ("lava-nc", "lava-dl", "torch")),
                      f"Python {v['python']} ({sys.executable})"])


class _VersionAction(argparse.Action):
    """--version, computed only when asked (it reads package metadata)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lavacut",
        description="Train event-driven SNNs with lava-dl SLAYER, export them to NetX, and stop inference "
                    "early on Lava (CPU simulation or Loihi 2) with a calibrated cutoff monitor.",
        epilog=EXIT_CODES)
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error (accepted anywhere on the command line)")
    parser.add_argument("--quiet", action="store_true",
                        help="draw no progress bars (accepted anywhere on the command line; bars are drawn "
                             "only when stderr is a terminal anyway)")
    parser.add_argument("--version", action=_VersionAction,
                        help="print the versions of lavacut, lava-nc, lava-dl, torch and Python, and exit")
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
    p.add_argument("--dt", type=_dt_arg, help="NIR only: seconds per time step (> 0; default 1e-4, snnTorch's "
                                              "convention) or 'bin' (the framing bin)")
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
    p.add_argument("--dt", type=_positive_number,
                   help="seconds per time step (default: from the graph's metadata or its taus)")
    p.add_argument("--threshold", type=_positive_number,
                   help="shared CUBA threshold (default: chosen losslessly if possible)")
    p.add_argument("--input-shape", type=int, nargs=3, metavar=("C", "H", "W"), help="frame shape if the graph has none")
    p.add_argument("--no-evaluate", action="store_true", help="skip measuring test accuracy after import")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("verify", help="check that Lava fixed_pt reproduces SLAYER's output spikes exactly",
                       description="Runs N samples through the Lava CPU simulation (one compiled graph, state "
                                   "reset on the graph between samples) and through the SLAYER model rebuilt "
                                   "from the same file; reports per sample whether the output spike trains are "
                                   "identical and where they first differ. Exit status 1 on any mismatch.")
    _add_config_args(p)
    _add_input_arg(p)
    p.add_argument("file", help="a NetX .net file")
    p.add_argument("--samples", type=int, default=None, help="first N samples (default 200)")
    p.add_argument("--split", default=None, choices=["train", "test"], help="data set split (default [run] split)")
    p.add_argument("--backend", choices=["cpu", "loihi2"], default="cpu")
    _add_models_arg(p)
    _add_lanes_arg(p)
    p.add_argument("--workers", type=_workers, default=None, metavar="N",
                   help="shard the Lava side over N tasks, each its own graph (default: [run] workers, 1)")
    _add_executor_args(p)
    p.add_argument("--report", metavar="PATH", help="also write the summary as JSON")
    _add_accept_modified(p, "verify them (the reference is rebuilt from the file as it is now)")
    _add_force(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("inspect", help="print a NetX file's layers, metadata and Loihi 2 resource estimate",
                       description="Works on any NetX file; layer types netx cannot load are listed as "
                                   "unsupported.")
    p.add_argument("file", help="a .net file")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("check", help="Loihi 2 design-rule check and core map of a NetX file (exit 1 on a violation)",
                       description="Weight precision and exponent, threshold/decay/bias ranges, delays <= 62, "
                                   "neurons, synaptic memory and axons per core, fan-in, cores and chips, from "
                                   "Intel's public Loihi 2 figures and the lava/lava-dl sources; unpublished "
                                   "figures are assumptions listed in the report. Violations are errors (exit 1), "
                                   "uses >= 90 % of a limit are warnings.")
    p.add_argument("file", help="a NetX .net file")
    p.add_argument("--target", choices=["loihi2"], default="loihi2")
    p.add_argument("--report", metavar="PATH", help="write the JSON report (cores, layers, assumptions) and the "
                                                   "core-map PNG beside it")
    p.add_argument("--replicas", type=int, default=1, metavar="R",
                   help="core map of R copies side by side (the chip counterpart of --lanes): copies per chip, "
                        "the binding limit, the shared input (default 1)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("calibrate", help="calibrate the stop rules on the training split and store them "
                                         "in the export",
                       description="Top-K per-step beta(t) for tolerance --eps (docs/method.md), softmax temperature, "
                                   "confidence/entropy thresholds, SpikeCP thresholds for --alpha, and optionally a "
                                   "risk-controlled Top-K choice (--risk-delta). Never uses the test split.")
    _add_config_args(p)
    _add_input_arg(p)
    p.add_argument("file", help="a NetX .net file (the calibration is stored in it)")
    p.add_argument("--eps", type=_eps_or_auto, default=0.02,
                   help="Top-K tolerance eps (default 0.02), or 'auto': the eps of 0.00..0.09 with the fewest mean "
                        "timesteps whose accuracy drop on the trainer's validation hold-out is <= --max-drop-pp")
    p.add_argument("--max-drop-pp", type=_at_least_zero(float), default=0.3, metavar="PP",
                   help="accuracy-drop budget of --eps auto, percentage points (default 0.3)")
    p.add_argument("--alpha", type=_probability(False, False), default=0.05, help="SpikeCP miscoverage alpha (default 0.05)")
    p.add_argument("--default", default="topk", help="rule 'lavacut run' uses without --policy (default topk)")
    p.add_argument("--split", default="train", choices=["train"], help="calibration split (train; never test)")
    p.add_argument("--risk-delta", type=_probability(True, False), default=None, metavar="D",
                   help="also pick the most aggressive Top-K eps whose accuracy drop is <= D with "
                        "--risk-confidence (Learn-then-Test)")
    p.add_argument("--risk-confidence", type=_probability(False, False), default=0.9)
    p.add_argument("--workers", type=_workers, default=None, metavar="N",
                   help="shard the SLAYER passes over N tasks, merged in order; the same calibration "
                        "(default: [run] workers, 1)")
    _add_executor_args(p)
    _add_accept_modified(p, "recalibrate for them (the old calibrations and export-time accuracy are dropped, "
                            "the new layer hash is stored)")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("evaluate", help="measure termination on a split: accuracy, timesteps, oracle, static "
                                        "truncation, sweeps, synops, energy (JSON + CSV + PNG)")
    _add_config_args(p)
    _add_input_arg(p)
    p.add_argument("file", help="a NetX .net file")
    p.add_argument("--engine", choices=["torch", "lava"], default="torch",
                   help="torch: batched SLAYER (fast); lava: the Lava runtime with the cutoff monitor")
    _add_run_args(p)
    p.add_argument("--report", default="reports/evaluate.json", help="JSON report path (CSV/PNG beside it)")
    p.add_argument("--no-neurobench", action="store_true",
                   help="skip NeuroBench's metrics (the 'neurobench' key; they need two more SLAYER passes)")
    p.add_argument("--no-sweeps", action="store_true",
                   help="skip the sweeps (every rule calibrated on the training split for the accuracy-vs-timesteps "
                        "plot; one more SLAYER pass over that split): evaluate the given rule only")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("run", help="run a NetX file in Lava with the cutoff monitor (full T vs cutoff)",
                       description="One compiled graph per split: sample source -> NetX network -> CutoffMonitor. "
                                   "halt: the monitor pauses the runtime at each decision; stream: samples "
                                   "switch on the graph with no host round trip. Uses the export's calibrated "
                                   "stop rule unless --policy is given; a NetX file without a data set bound "
                                   "needs --input (your own data) or --config (data set, framing), and runs "
                                   "fixed T unless calibrated or given --policy parameters.")
    _add_config_args(p)
    _add_input_arg(p)
    p.add_argument("file", help="a NetX .net file")
    _add_run_args(p)
    p.add_argument("--report", default="reports/run.json", help="JSON report path (per-sample CSV beside it)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("experiments", help="regenerate the recorded experiments in sims/results/",
                       description="For sims/embedded_{dense,conv}[_rcs].toml: train (unless runs/<name>/best.pt "
                                   "exists or --retrain), export to netx_exports/, calibrate, evaluate every stop "
                                   "rule (torch engine) and the calibrated Top-K in Lava; write sims/results/.")
    p.add_argument("--only", nargs="+", action="extend", metavar="NAME",
                   help="run only these experiments (repeatable: --only A B or --only A --only B)")
    p.add_argument("--retrain", action="store_true", help="train again even if a checkpoint exists")
    p.add_argument("--lava-samples", type=_at_least_zero(int), default=0,
                   help="test samples for the Lava runs (0 = all)")
    p.add_argument("--workers", type=_workers, default=1, metavar="N",
                   help="experiments in flight at once, each a task (default 1: one after the other in this process)")
    _add_executor_args(p, "the experiments", "local")
    p.set_defaults(func=cmd_experiments)

    p = sub.add_parser("rcs-sweep", help="measure RCS over alphas and seeds: timesteps at equal accuracy drop",
                       description="For each network (sims/NAME.toml), RCS alpha (0 = RCS off) and training seed "
                                   "(train.seed; the data split stays): train into "
                                   "runs/rcs_sweep/NAME/a<ALPHA>_s<SEED> "
                                   "(a finished run is reused, an interrupted one resumed), export, calibrate on the "
                                   "training split, evaluate Top-K on the test split (torch engine, eps sweep). "
                                   "Compares the mean timesteps at <= --drop-pp accuracy drop with and without RCS "
                                   "over the seeds; writes sims/results/rcs_sweep.{json,png,md}.")
    p.add_argument("--only", nargs="+", action="extend", metavar="NAME",
                   help="networks (recipe names in sims/; default embedded_dense embedded_conv)")
    p.add_argument("--alphas", nargs="+", type=_at_least_zero(float), metavar="A",
                   help="RCS weights, must include 0 (RCS off, the baseline; default 0 0.001 0.002 0.005)")
    p.add_argument("--seeds", nargs="+", type=_at_least_zero(int), metavar="S",
                   help="training seeds per point (default 0 1 2; at least 2 to measure the spread)")
    p.add_argument("--drop-pp", type=_at_least_zero(float), default=0.3, metavar="PP",
                   help="accuracy drop (percentage points vs full T) the timesteps are compared at (default 0.3)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value of every run, e.g. --set train.epochs=3 (repeatable; not "
                        "rcs.enabled, rcs.alpha or train.seed: the sweep sets those)")
    p.add_argument("--workers", type=_workers, default=1, metavar="N",
                   help="runs in flight at once, each a task (default 1: one after the other in this process)")
    _add_executor_args(p, "the runs", "local")
    p.set_defaults(func=cmd_rcs_sweep)

    p = sub.add_parser("list", help="list the shipped exports (layers, classes, calibrated rules) and recipes",
                       description="The NetX exports lavacut ships (netx_exports/; run, evaluate, ... take their "
                                   "names) and the training recipes (sims/*.toml).")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("demo", help="the main job on the embedded default, end to end",
                       description="Build the embedded data set if needed, take the shipped export from "
                                   "netx_exports/, run the Lava CPU simulation with the cutoff monitor on a test "
                                   "subset (full T and with cutoff) and print the termination summary.")
    _add_config_args(p)
    p.add_argument("--export", default="embedded_dense",
                   help="a shipped export's name (default embedded_dense) or a NetX file")
    p.add_argument("--samples", type=int, default=300, help="first N test samples (default 300)")
    p.add_argument("--mode", choices=["halt", "stream"], default="halt")
    _add_lanes_arg(p)
    p.add_argument("--report", default="reports/demo.json", help="JSON report path (plots beside it)")
    p.set_defaults(func=cmd_demo)

    return parser


#: exit codes (also in ``lavacut --help``)
EXIT_BAD_INPUT, EXIT_INTERNAL = 2, 3     # (0 ok, 1 a check failed: the commands return those)
EXIT_CODES = ("exit codes: 0 ok; 1 a check failed (verify, inspect, check); 2 bad usage or input (one line naming "
              "the file, field or option); 3 an internal error (a bug: rerun with --debug for the traceback); "
              "130 Ctrl-C; 143 SIGTERM. Every Lava runtime is stopped before lavacut exits.")


def _on_sigterm(signum, frame):
    raise Terminated(signum)


def _unraisable(hook):
    """A sys.unraisablehook: a signal handled while Python runs a callback
    whose exceptions it cannot raise (a weakref callback, a __del__: the
    garbage collector of torch's or tqdm's objects) would be printed and
    swallowed, and the command would go on to write its output and exit 0.
    Deliver the signal again a moment later instead (from a thread: not
    inside this hook), where it is raised in the command."""
    def on_unraisable(info):
        if isinstance(info.exc_value, KeyboardInterrupt):
            signum = signal.SIGTERM if isinstance(info.exc_value, Terminated) else signal.SIGINT
            timer = threading.Timer(0.01, os.kill, (os.getpid(), signum))
            timer.daemon = True
            timer.start()
            return
        hook(info)
    return on_unraisable


def _os_error_message(exc: OSError) -> str:
    what = exc.strerror or str(exc)
    where = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p)
    return f"{where}: {what}" if where else what


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv       # accepted anywhere on the line, before or after the command
    quiet = "--quiet" in argv       # likewise
    argv = [a for a in argv if a not in ("--debug", "--quiet")]
    set_quiet(quiet)
    parser = build_parser()
    args = parser.parse_args(argv)  # bad usage: argparse prints it and exits 2
    args.config = getattr(args, "config", None)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    where = f"lavacut {args.command}"
    # SIGTERM (a job manager, `timeout`) unwinds like Ctrl-C: every Lava
    # runtime and temporary file is cleaned up on the way out
    old_term = signal.signal(signal.SIGTERM, _on_sigterm) \
        if threading.current_thread() is threading.main_thread() else None
    old_unraisable, sys.unraisablehook = sys.unraisablehook, _unraisable(sys.unraisablehook)
    try:
        _check_local_workers(args)
        return int(args.func(args) or 0)
    except LavacutError as exc:
        if debug:
            raise
        print(f"{where}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:
        hint = getattr(args, "interrupt_hint", "")
        if isinstance(exc, Terminated):
            print(f"{where}: terminated (SIGTERM){hint}", file=sys.stderr)
            return 128 + signal.SIGTERM
        print(f"{where}: interrupted{hint}", file=sys.stderr)
        return 130
    except OSError as exc:          # a path the user gave: missing, a folder, no permission, disk full
        if debug:
            raise
        print(f"{where}: error: {_os_error_message(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:        # noqa: BLE001 - the last line of defence: one line, no traceback
        if debug:
            raise
        print(f"{where}: internal error: {type(exc).__name__}: {first_line(exc)} "
              f"(this is a bug in lavacut or a library it uses; rerun with --debug for the traceback and "
              f"report it)", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        sys.unraisablehook = old_unraisable
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


if __name__ == "__main__":
    sys.exit(main())
