"""``lavacut data`` and ``lavacut train``."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

from lavacut.cli import options
from lavacut.cli.common import check_io, config
from lavacut.locks import FolderInUse
from lavacut.util import LavacutError, atomic_write_json, check_path_lengths


def cmd_data(args) -> int:
    from lavacut.pipelines.stages import data_summary, dataset_lines, draw_sample

    if args.list:
        print("\n".join(dataset_lines()))
        return 0
    if args.plot and Path(args.plot).suffix.lower() not in (".png", ".gif"):
        raise LavacutError(f"--plot {args.plot}: give a .png (a strip of frames) or a .gif (an animation)")
    check_io(args, [(args.json, "--json"), (args.plot, "--plot")])
    cfg = config(args)
    split = args.split or cfg.run.split
    s = data_summary(cfg, split)
    print_summary(s)
    if args.json:
        atomic_write_json(args.json, s)
        print(f"summary written to {args.json}")
    if args.plot:
        n_events, label = draw_sample(cfg, split, args.index, args.plot)
        print(f"sample {args.index} ({n_events} events, label {label}) drawn to {args.plot}")
    return 0


def print_summary(s: dict) -> None:
    """What :func:`lavacut.pipelines.stages.data_summary` found, printed."""
    if "n_train" not in s:  # a real data set: its size and sensor only
        print(f"{s['name']} {s['split']}: {s['n_samples']} samples, sensor {tuple(s['sensor_size'])}")
        return
    print(f"data set     {s['name']}")
    print(f"sensor       {s['sensor_size'][0]}x{s['sensor_size'][1]}, {s['sensor_size'][2]} polarities")
    print(f"samples      {s['n_samples']} (train {s['n_train']}, test {s['n_test']}, stratified, seed {s['seed']})")
    print(f"class balance train {s['class_balance_train']}")
    print(f"              test  {s['class_balance_test']}")
    e = s["events_per_sample"]
    print(
        f"events/sample mean {e['mean']:.0f}, min {e['min']}, max {e['max']}; ON fraction {s['on_fraction']:.3f}; "
        f"duration {s['duration_ms']['mean']:.0f} ms"
    )
    print(f"cache        {s['cache']}")


def cmd_train(args) -> int:
    from lavacut.pipelines.stages import train

    cfg = config(args)
    run_dir = Path(args.out or Path("runs") / cfg.name)
    check_path_lengths(run_dir, "--out")  # before any stat of it (ENAMETOOLONG)
    if run_dir.exists() and not run_dir.is_dir():
        raise LavacutError(f"--out {run_dir} is a file; give a folder for the run")
    check_io(args, [(run_dir / f, "--out") for f in ("best.pt", "last.pt", "metrics.json", "training_curve.png")])
    print(
        f"training {cfg.name}: {cfg.net.kind} net on {cfg.data.dataset}, loss {cfg.loss.name}, "
        f"RCS {'on (alpha ' + str(cfg.rcs.alpha) + ')' if cfg.rcs.enabled else 'off'}, "
        f"{cfg.train.epochs} epochs -> {run_dir}"
    )
    # the outermost folder this run creates: removed again if training fails before a checkpoint
    created = next((d for d in reversed([run_dir, *run_dir.parents]) if not d.exists()), None)
    try:
        r = train(cfg, run_dir, resume=args.resume, what="--out")
    except FolderInUse:
        raise  # another training's folder: nothing of it is ours to remove
    except BaseException:
        if (run_dir / "last.pt").is_file():
            argv = [a for a in sys.argv[1:] if a not in ("--resume", "--debug")]
            args.interrupt_hint = (
                f"; {run_dir / 'last.pt'} holds the last finished epoch: continue with "
                f"'lavacut {shlex.join(argv)} --resume'"
            )
        elif created is not None and created.is_dir():
            shutil.rmtree(created, ignore_errors=True)  # nothing to resume from: leave no empty run folder
        raise
    print(
        f"best validation accuracy {'- (no hold-out)' if r.best_val_acc is None else f'{r.best_val_acc:.4f}'}; test accuracy at full T {r.test_acc:.4f}; "
        f"{r.train_seconds:.0f} s"
    )
    print(
        f"checkpoints: {r.best_checkpoint} (best), {r.last_checkpoint} (last); curve: {run_dir / 'training_curve.png'}"
    )
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "data",
        parents=[options.config(), options.common()],
        help="list data sets, build the embedded one and print its summary, draw a sample",
        description="Without options: build (or load from cache) the configured data set and print "
        "its size, split, class balance and event statistics. Data sets (data.dataset): "
        "embedded (default, offline: scikit-learn digits through the saccade DVS "
        "emulator), nmnist, dvsgesture, cifar10dvs, ncaltech101 (read from data.root "
        "in tonic's layout; --list says more).",
    )
    p.add_argument("--list", action="store_true", help="list the data sets lavacut reads")
    p.add_argument(
        "--split",
        default=None,
        choices=["train", "test"],
        help="the split summarised (a real data set) and drawn by --plot; default: [run] split (test)",
    )
    p.add_argument("--index", type=int, default=0, help="sample index for --plot (default 0)")
    p.add_argument("--plot", metavar="PATH.png|PATH.gif", help="draw one sample's frames to a PNG strip or GIF")
    p.add_argument("--json", metavar="PATH", help="also write the summary as JSON")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser(
        "train",
        parents=[options.config(), options.common()],
        help="train a SLAYER network (task loss + optional RCS regulariser)",
        description="Train per a config (sims/*.toml) with --set overrides. Writes best.pt and "
        "last.pt (atomic), metrics.json and training_curve.png to --out "
        "(default runs/<name>). --resume continues from last.pt.",
    )
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/<config name>)")
    p.add_argument("--resume", action="store_true", help="continue from DIR/last.pt after an interruption")
    p.set_defaults(func=cmd_train)
