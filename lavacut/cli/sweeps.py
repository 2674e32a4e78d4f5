"""``lavacut experiments`` and ``lavacut rcs-sweep``: many runs, each a task."""

from __future__ import annotations

from lavacut.cli import argtypes, options
from lavacut.cli.common import ray_address


def cmd_experiments(args) -> int:
    from lavacut.pipelines.experiments import run_experiments

    ray_address(args)
    table = run_experiments(
        args.only or None,
        retrain=args.retrain,
        lava_samples=args.lava_samples,
        executor=args.executor or "local",
        workers=args.workers or 1,
    )
    print(f"results table: {table}")
    return 0


def cmd_rcs_sweep(args) -> int:
    from lavacut.pipelines.rcs_sweep import run_rcs_sweep

    ray_address(args)
    path = run_rcs_sweep(
        args.only or None,
        alphas=args.alphas,
        seeds=args.seeds,
        drop_pp=args.drop_pp,
        overrides=args.overrides,
        executor=args.executor or "local",
        workers=args.workers or 1,
    )
    print(f"results: {path}, {path.with_suffix('.png')}, {path.with_suffix('.md')}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "experiments",
        parents=[
            options.executor("whole experiments", "1 (one after the other in this process)", "local"),
            options.common(),
        ],
        help="regenerate the recorded experiments in sims/results/",
        description="For sims/embedded_{dense,conv}[_rcs].toml: train (unless runs/<name>/best.pt "
        "exists or --retrain), export to netx_exports/, calibrate, evaluate every stop "
        "rule (torch engine) and the calibrated Top-K in Lava; write sims/results/.",
    )
    p.add_argument(
        "--only",
        nargs="+",
        action="extend",
        metavar="NAME",
        help="run only these experiments (repeatable: --only A B or --only A --only B)",
    )
    p.add_argument("--retrain", action="store_true", help="train again even if a checkpoint exists")
    p.add_argument(
        "--lava-samples",
        type=argtypes.at_least_zero(int),
        default=0,
        metavar="N",
        help="the first N test samples for the Lava runs, 0 = all (default 0)",
    )
    p.set_defaults(func=cmd_experiments)

    p = sub.add_parser(
        "rcs-sweep",
        parents=[
            options.executor("whole training runs", "1 (one after the other in this process)", "local"),
            options.common(),
        ],
        help="measure RCS over alphas and seeds: timesteps at equal accuracy drop",
        description="For each network (sims/NAME.toml), RCS alpha (0 = RCS off) and training seed "
        "(train.seed; the data split stays): train into "
        "runs/rcs_sweep/NAME/a<ALPHA>_s<SEED> "
        "(a finished run is reused, an interrupted one resumed), export, calibrate on the "
        "training split, evaluate Top-K on the test split (torch engine, eps sweep). "
        "Compares the mean timesteps at <= --drop-pp accuracy drop with and without RCS "
        "over the seeds; writes sims/results/rcs_sweep.{json,png,md}.",
    )
    p.add_argument(
        "--only",
        nargs="+",
        action="extend",
        metavar="NAME",
        help="networks (recipe names in sims/; default embedded_dense embedded_conv)",
    )
    p.add_argument(
        "--alphas",
        nargs="+",
        type=argtypes.at_least_zero(float),
        metavar="A",
        help="RCS weights, must include 0 (RCS off, the baseline; default 0 0.001 0.002 0.005)",
    )
    p.add_argument(
        "--seeds",
        nargs="+",
        type=argtypes.at_least_zero(int),
        metavar="S",
        help="training seeds per point (default 0 1 2; at least 2 to measure the spread)",
    )
    p.add_argument(
        "--drop-pp",
        type=argtypes.at_least_zero(float),
        default=0.3,
        metavar="PP",
        help="accuracy drop (percentage points vs full T) the timesteps are compared at (default 0.3)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value of every run, e.g. --set train.epochs=3 (repeatable; not "
        "rcs.enabled, rcs.alpha or train.seed: the sweep sets those)",
    )
    p.set_defaults(func=cmd_rcs_sweep)
