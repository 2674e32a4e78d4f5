"""The option groups the commands share, as argparse parent parsers: an
option has one name, one default and one meaning in every command that
takes it.

The rule for defaults: an option the config has (``[run]``, ``[cutoff]``)
defaults to None on the command line and takes the config's value then
(the command line over the config over the built-in default; the help
says which key). ``--report PATH`` defaults to ``reports/<command>.json``
in every command that writes a report.
"""

from __future__ import annotations

import argparse

from lavacut.cli import argtypes
from lavacut.cutoff.rules import rule_names
from lavacut.runtime.executors import executor_names


def _parent() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(add_help=False)


def common() -> argparse.ArgumentParser:
    """--debug, --quiet: every command lists them; :func:`lavacut.cli.main`
    takes them anywhere on the line."""
    p = _parent()
    g = p.add_argument_group("every command")  # a section of its own, after the command's options
    g.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (accepted anywhere on the command line)"
    )
    g.add_argument(
        "--quiet",
        action="store_true",
        help="draw no progress bars (accepted anywhere on the command line; bars are drawn only when "
        "stderr is a terminal anyway)",
    )
    return p


def config() -> argparse.ArgumentParser:
    p = _parent()
    p.add_argument(
        "--config",
        "-c",
        metavar="FILE.toml",
        help="experiment config (e.g. sims/embedded_dense.toml); on an export, the default is the config stored in it",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.epochs=3 (repeatable, each key once)",
    )
    return p


def user_input() -> argparse.ArgumentParser:
    p = _parent()
    p.add_argument(
        "--input",
        metavar="PATH",
        help="your own data instead of a data set split: frames (.npy (N, *input, T) or one sample "
        "(*input, T); .npz with frames, labels, classes) or event recordings (a file, or a folder "
        "with one subfolder per class: tonic .npy, N-MNIST .bin, .aedat4, Prophesee .dat/.raw); "
        "framing from [framing] / --set framing.*, sensor from the files or --set data.sensor",
    )
    return p


def selection() -> argparse.ArgumentParser:
    """Which samples: a split of the export's data set (or --input), first N."""
    p = _parent()
    p.add_argument(
        "--split",
        default=None,
        choices=["train", "test"],
        help="the data set split (not with --input); default: [run] split (test)",
    )
    p.add_argument(
        "--samples",
        type=argtypes.count,
        default=None,
        metavar="N",
        help="the first N samples of the split or --input, 0 = all; default: [run] samples (0)",
    )
    return p


def stop_rule() -> argparse.ArgumentParser:
    """The stop rule and how the cutoff acts on it."""
    p = _parent()
    p.add_argument(
        "--policy", choices=rule_names(), help="stop rule (default: the export's calibrated default, else fixed T)"
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="stop-rule parameter, e.g. --param eps=0.05 (repeatable; the others stay calibrated)",
    )
    return p


def mode() -> argparse.ArgumentParser:
    p = _parent()
    p.add_argument(
        "--mode",
        choices=["halt", "stream"],
        default=None,
        help="halt: the monitor pauses the runtime at each decision; stream: samples switch on the "
        "graph with no host round trip; default: [run] mode (halt)",
    )
    return p


def backend() -> argparse.ArgumentParser:
    p = _parent()
    p.add_argument(
        "--backend",
        choices=["cpu", "loihi2"],
        default=None,
        help="cpu: Loihi2SimCfg fixed_pt; loihi2: Loihi2HwCfg (needs lava-loihi; untested on a chip); "
        "default: [run] backend (cpu)",
    )
    return p


def runtime() -> argparse.ArgumentParser:
    """How the Lava graph is built: --models, --lanes."""
    p = _parent()
    p.add_argument(
        "--models",
        choices=["fast", "fast-procs", "stock"],
        default=None,
        help="Lava ProcessModels on cpu: fast (the network as one fused Lava process, else fast-procs), "
        "fast-procs (lavacut's vectorised models for netx's processes), stock (Lava's own); all "
        "spike-exact; default: [run] models (fast)",
    )
    p.add_argument(
        "--lanes",
        type=argtypes.count,
        default=None,
        metavar="B",
        help="samples side by side in one Lava step, each with its own cutoff (fused network; stock / "
        "fast-procs / loihi2: B copies of the graph); same decisions as 1; default: [run] lanes (0 = auto)",
    )
    return p


def executor(
    what: str = "shards of the split, each its own compiled Lava graph (same decisions, merged in order)",
    workers: str = "[run] workers (1)",
    where: str = "[run] executor (local)",
) -> argparse.ArgumentParser:
    """--workers, --executor, --ray-address: ``what`` the tasks are;
    ``workers``, ``where``: the defaults of --workers and --executor."""
    p = _parent()
    p.add_argument(
        "--workers",
        type=argtypes.workers,
        default=None,
        metavar="N",
        help=f"tasks in flight at once: {what}; default: {workers}",
    )
    p.add_argument(
        "--executor",
        choices=executor_names(),
        default=None,
        help=f"where the tasks of --workers run: local (forked on this machine, at most its CPU cores) "
        f"or ray (Ray tasks on the cluster at --ray-address / RAY_ADDRESS, else on a Ray started "
        f"here; needs lavacut[ray]); default: {where}",
    )
    p.add_argument(
        "--ray-address",
        metavar="HOST:PORT",
        default=None,
        help="the Ray cluster to join (default: $RAY_ADDRESS); lavacut never stops a cluster it joined",
    )
    return p


def force() -> argparse.ArgumentParser:
    p = _parent()
    p.add_argument(
        "--force",
        action="store_true",
        help="run a file whose values break Loihi 2's ranges ('lavacut check' errors such as a bias "
        "beyond 13 bits or delays beyond 62) anyway, with a warning: netx clamps or truncates them",
    )
    return p


def report(command: str, what: str = "") -> argparse.ArgumentParser:
    """--report: the same rule in every command that writes a report."""
    p = _parent()
    p.add_argument(
        "--report",
        default=f"reports/{command}.json",
        metavar="PATH",
        help=f"the JSON report{what} (default reports/{command}.json)",
    )
    return p


def add_accept_modified(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--accept-modified", action="store_true", help=f"the file's layers were changed after export on purpose: {what}"
    )
