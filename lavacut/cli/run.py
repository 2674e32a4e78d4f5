"""The commands on an export: ``calibrate``, ``verify``, ``evaluate``,
``run`` and ``demo``."""

from __future__ import annotations

import dataclasses

from lavacut.cutoff.rules import rule_names
from lavacut.cli import argtypes, options
from lavacut.cli.common import check_io, policy_params, ray_address, request
from lavacut.util import LavacutError, atomic_write_json


def cmd_verify(args) -> int:
    from lavacut.pipelines.verify import verify_export

    req = dataclasses.replace(request(args, outputs=[(args.report, "--report")]), accept_modified=args.accept_modified)
    ray_address(args)
    res = verify_export(
        req, backend=args.backend, models=args.models, lanes=args.lanes, workers=args.workers, executor=args.executor
    )
    print(res.format())
    atomic_write_json(args.report, res.summary())
    print(f"report: {args.report}")
    return 0 if res.n_identical == res.n_samples else 1


def cmd_calibrate(args) -> int:
    from lavacut.pipelines.calibrate import calibrate_export

    req = dataclasses.replace(request(args, samples=0), accept_modified=args.accept_modified)
    ray_address(args)
    summary = calibrate_export(
        req,
        eps=args.eps,
        alpha=args.alpha,
        default_policy=args.default,
        risk_delta=args.risk_delta,
        risk_confidence=args.risk_confidence,
        max_drop_pp=args.max_drop_pp,
        workers=args.workers,
        executor=args.executor,
    )
    print("\n".join(summary))
    return 0


def cmd_evaluate(args) -> int:
    from lavacut.pipelines.evaluate import evaluate_export
    from lavacut.measure.reports import print_termination_summary, report_paths, write_report

    ray_address(args)
    for key in ("models", "workers", "lanes", "executor"):  # evaluate reads them from [run]
        if getattr(args, key, None) is not None:
            args.overrides = list(args.overrides) + [f"run.{key}={getattr(args, key)}"]
    rep = evaluate_export(
        request(args, outputs=[(p, "--report") for p in report_paths(args.report)]),
        engine=args.engine,
        policy=args.policy,
        params=policy_params(args.param),
        backend=args.backend,
        mode=args.mode,
        neurobench=not args.no_neurobench,
        with_sweeps=not args.no_sweeps,
    )
    written = write_report(rep, args.report)
    print_termination_summary(rep)
    if rep.get("unlabelled_outputs"):
        print(rep["unlabelled_outputs"]["note"])
    print("report: " + ", ".join(str(p) for p in written))
    return 0


def cmd_run(args) -> int:
    from lavacut.measure.reports import print_termination_summary, report_paths, write_report
    from lavacut.pipelines.run import run_export

    req = request(args, outputs=[(p, "--report") for p in report_paths(args.report, plots=False)])
    ray_address(args)
    table = args.samples is not None and 0 < args.samples <= 30

    def on_sample(i, t_c, pred):
        if table:
            print(f"  sample {i:4d}  t_c {t_c:3d}  pred {pred:3d}", flush=True)

    rep, full, cut = run_export(
        req,
        mode=args.mode,
        policy=args.policy,
        params=policy_params(args.param),
        backend=args.backend,
        progress=not table,
        on_sample=on_sample if table else None,
        models=args.models,
        workers=args.workers,
        lanes=args.lanes,
        executor=args.executor,
    )
    if table and rep["mode"] == "stream":
        for r in rep["per_sample"]:
            print(f"  sample {r['index']:4d}  t_c {r['t_c']:3d}  pred {r['pred']:3d}  label {r['label']}")
    written = write_report(rep, args.report, plots=False)
    print_termination_summary(rep)
    if rep.get("unlabelled_outputs"):
        print(rep["unlabelled_outputs"]["note"])
    if rep.get("note"):
        print(rep["note"])
    print("report: " + ", ".join(str(p) for p in written))
    return 0


def cmd_demo(args) -> int:
    """The main job on the embedded default (README's first command): data,
    the shipped export, the Lava CPU simulation with the cutoff monitor on a
    test subset, and the termination summary."""
    from lavacut.cli.train import print_summary
    from lavacut.export.artifact import Export
    from lavacut.measure.reports import print_termination_summary, report_paths, write_report
    from lavacut.pipelines.run import RunRequest, describe_export, run_export
    from lavacut.pipelines.stages import data_summary
    from lavacut.shipped import resolve_export

    export = resolve_export(args.export)  # the clone's netx_exports/, else the installed package's copy
    check_io(args, [(p, "--report") for p in report_paths(args.report)], [(export, "--export")])
    if not export.is_file():
        raise LavacutError(
            f"{export} is missing: it ships with the project (regenerate it with "
            f"'lavacut experiments --only embedded_dense')"
        )
    cfg = Export.open(export).config(args.config, args.overrides)  # as run_export resolves it
    split = args.split or cfg.run.split
    samples = cfg.run.samples if args.samples is None else args.samples
    mode = args.mode or cfg.run.mode
    print("== 1. events in: the embedded data set (built on first use, then cached)")
    print_summary(data_summary(cfg, split))
    print(f"\n== 2. the shipped export {export}")
    print("   " + describe_export(export))
    print(
        f"\n== 3. Lava CPU simulation (Loihi2SimCfg fixed_pt) with the CutoffMonitor, "
        f"{f'the first {samples}' if samples else 'all'} {split} samples, {mode} mode: full T, then with the "
        f"cutoff"
    )
    rep, full, cut = run_export(
        RunRequest(export, args.config, tuple(args.overrides), split=split, samples=samples),
        mode=mode,
        backend="cpu",
        models=args.models,
        lanes=args.lanes,
    )
    written = write_report(rep, args.report)
    print("\n== 4. termination summary")
    print_termination_summary(rep)
    print("report: " + ", ".join(str(p) for p in written))
    return 0


def add_parsers(sub) -> None:
    """calibrate, verify, evaluate, run, demo."""
    p = sub.add_parser(
        "calibrate",
        parents=[
            options.config(),
            options.user_input(),
            options.executor(
                "shards of the calibration samples' SLAYER passes, merged in order (the same calibration)"
            ),
            options.common(),
        ],
        help="calibrate the stop rules on the training split and store them in the export",
        description="Top-K per-step beta(t) for tolerance --eps (docs/method.md), softmax temperature, "
        "confidence/entropy thresholds, SpikeCP thresholds for --alpha, and optionally a "
        "risk-controlled Top-K choice (--risk-delta). Never uses the test split. "
        "--eps, --max-drop-pp and --default take the config's [cutoff] (the "
        "export's stored config, or --config/--set) unless given.",
    )
    p.add_argument("file", help="a NetX .net file (the calibration is stored in it)")
    p.add_argument(
        "--eps",
        type=argtypes.eps_or_auto,
        default=None,
        help="Top-K tolerance eps, or 'auto': the eps of 0.00..0.09 with the fewest mean timesteps whose "
        "accuracy drop on the trainer's validation hold-out is <= --max-drop-pp; default: 'auto' "
        "if [cutoff] choose_eps, else [cutoff] eps (0.02)",
    )
    p.add_argument(
        "--max-drop-pp",
        type=argtypes.at_least_zero(float),
        default=None,
        metavar="PP",
        help="accuracy-drop budget of --eps auto, percentage points; default: [cutoff] max_drop_pp (0.3)",
    )
    p.add_argument(
        "--alpha",
        type=argtypes.probability(False, False),
        default=0.05,
        help="SpikeCP miscoverage alpha (default 0.05)",
    )
    p.add_argument(
        "--default",
        default=None,
        metavar="POLICY",
        help=f"the rule 'lavacut run' uses without --policy ({', '.join(rule_names())}, or "
        f"topk_risk with --risk-delta); default: [cutoff] policy (topk)",
    )
    p.add_argument("--split", default="train", choices=["train"], help="calibration split (train; never test)")
    p.add_argument(
        "--risk-delta",
        type=argtypes.probability(True, False),
        default=None,
        metavar="D",
        help="also pick the most aggressive Top-K eps whose accuracy drop is <= D with "
        "--risk-confidence (Learn-then-Test)",
    )
    p.add_argument(
        "--risk-confidence",
        type=argtypes.probability(False, False),
        default=0.9,
        metavar="C",
        help="confidence of --risk-delta's guarantee (default 0.9)",
    )
    options.add_accept_modified(
        p,
        "recalibrate for them (the old calibrations and export-time accuracy are "
        "dropped, the new layer hash is stored)",
    )
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser(
        "verify",
        parents=[
            options.config(),
            options.user_input(),
            options.selection(),
            options.backend(),
            options.runtime(),
            options.executor("shards of the Lava side, each its own compiled graph"),
            options.force(),
            options.report("verify", " (the summary)"),
            options.common(),
        ],
        help="check that Lava fixed_pt reproduces SLAYER's output spikes exactly",
        description="Runs N samples through the Lava CPU simulation (one compiled graph, state "
        "reset on the graph between samples) and through the SLAYER model rebuilt "
        "from the same file; reports per sample whether the output spike trains are "
        "identical and where they first differ. Exit status 1 on any mismatch.",
    )
    p.add_argument("file", help="a NetX .net file")
    options.add_accept_modified(p, "verify them (the reference is rebuilt from the file as it is now)")
    p.set_defaults(func=cmd_verify)

    run_parents = [
        options.config(),
        options.user_input(),
        options.selection(),
        options.stop_rule(),
        options.mode(),
        options.backend(),
        options.runtime(),
        options.executor(
            "shards of the split (a compiled Lava graph each; evaluate's SLAYER passes too), merged in order"
        ),
        options.force(),
    ]
    p = sub.add_parser(
        "evaluate",
        parents=[*run_parents, options.report("evaluate", ", the CSV and PNG beside it"), options.common()],
        help="measure termination on a split: accuracy, timesteps, oracle, static "
        "truncation, sweeps, synops, energy (JSON + CSV + PNG)",
    )
    p.add_argument("file", help="a NetX .net file")
    p.add_argument(
        "--engine",
        choices=["torch", "lava"],
        default="torch",
        help="torch: batched SLAYER (fast; default); lava: the Lava runtime with the cutoff monitor",
    )
    p.add_argument(
        "--no-neurobench",
        action="store_true",
        help="skip NeuroBench's metrics (the 'neurobench' key; they need two more SLAYER passes)",
    )
    p.add_argument(
        "--no-sweeps",
        action="store_true",
        help="skip the sweeps (every rule calibrated on the training split for the accuracy-vs-timesteps "
        "plot; one more SLAYER pass over that split): evaluate the given rule only",
    )
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "run",
        parents=[*run_parents, options.report("run", ", the per-sample CSV beside it"), options.common()],
        help="run a NetX file in Lava with the cutoff monitor (full T vs cutoff)",
        description="One compiled graph per split: sample source -> NetX network -> CutoffMonitor. "
        "halt: the monitor pauses the runtime at each decision; stream: samples "
        "switch on the graph with no host round trip. Uses the export's calibrated "
        "stop rule unless --policy is given; a NetX file without a data set bound "
        "needs --input (your own data) or --config (data set, framing), and runs "
        "fixed T unless calibrated or given --policy parameters. With --samples "
        "1..30 it prints each sample's decision.",
    )
    p.add_argument("file", help="a NetX .net file")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "demo",
        parents=[
            options.config(),
            options.selection(),
            options.mode(),
            options.runtime(),
            options.report("demo", ", the plots beside it"),
            options.common(),
        ],
        help="the main job on the embedded default, end to end",
        description="Build the embedded data set if needed, take the shipped export from "
        "netx_exports/, run the Lava CPU simulation with the cutoff monitor on the "
        "test split (full T and with cutoff) and print the termination summary.",
    )
    p.add_argument(
        "--export", default="embedded_dense", help="a shipped export's name (default embedded_dense) or a NetX file"
    )
    p.set_defaults(func=cmd_demo)
