"""What the commands share once their options are parsed: the config, the
checks of inputs and outputs before any work, the RunRequest of a command
on an export."""

from __future__ import annotations

import os
from pathlib import Path

from lavacut.config import load_config, max_workers, parse_override
from lavacut.util import LavacutError, check_input_file, check_output_path, check_outputs

#: what a network FILE is: a NetX HDF5 file (by its content, or by one of
#: these suffixes, whose reader then says what is wrong with it)
NETWORK_SUFFIXES = (".net", ".h5", ".hdf5")
NETWORKS = "NetX networks (.net, HDF5)"


def config(args):
    return load_config(args.config, args.overrides)


def ray_address(args) -> None:
    """--ray-address: Ray reads its cluster's address from RAY_ADDRESS.
    Checked before any work (a typo is not found after the data is loaded):
    its form, and with --executor ray that something answers there."""
    if getattr(args, "ray_address", None):
        os.environ["RAY_ADDRESS"] = args.ray_address
    address = os.environ.get("RAY_ADDRESS")
    executor = getattr(args, "executor", None)
    if executor is None and hasattr(args, "config") and (args.config is not None or getattr(args, "overrides", None)):
        executor = config(args).run.executor  # [run] executor = "ray"
    if executor != "ray" and not getattr(args, "ray_address", None):
        return
    from lavacut.runtime.executors.ray_cluster import check_address, check_ray, probe_address

    if executor == "ray":
        check_ray()
    if address and (getattr(args, "ray_address", None) or executor == "ray"):
        check_address(address)
        if executor == "ray":
            probe_address(address)


def check_local_workers(args) -> None:
    """--workers on the local executor: at most the CPU cores (each worker
    is a whole Lava graph); more are for --executor ray."""
    workers, executor = getattr(args, "workers", None), getattr(args, "executor", None)
    ray_in_config = args.config is not None or any(
        o.startswith("run.executor") for o in getattr(args, "overrides", []) or []
    )
    if workers and workers > max_workers() and executor != "ray" and not (executor is None and ray_in_config):
        raise LavacutError(
            f"argument --workers: must be in 1..{max_workers()} (the CPU cores here) on the local "
            f"executor, got {workers}; more shards run on --executor ray"
        )


def policy_params(items: list[str]) -> dict:
    """--param name=value (TOML values: numbers, lists) -> dict."""
    return dict(parse_override(i) for i in items or [])


def check_io(args, outputs=(), inputs=()) -> None:
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
            raise LavacutError(
                f"--split {args.split} picks a split of the export's data set; --input "
                f"{args.input} is your own data: give one of them"
            )
    for attr, option in (("report", "--report"), ("output", "-o"), ("json", "--json"), ("plot", "--plot")):
        raw = getattr(args, attr, None)
        if isinstance(raw, str):  # as typed: a Path drops the trailing '/' of a folder
            check_output_path(raw, option)
    inputs = [(getattr(args, "config", None), "--config"), (getattr(args, "input", None), "--input"), *inputs]
    for path, what in inputs:
        if path is not None and what != "--input":
            check_input_file(path, what, folder=True)  # a folder: the command's own message names it
    check_outputs(outputs, inputs)
    for path, what in outputs:
        if path is not None:
            check_not_shipped(path, what, hint="give another path")


def event_format(path):
    """What a FILE is, one answer for inspect, check, run and the other
    commands on a network: None for a network (:data:`NETWORK_SUFFIXES` or
    HDF5 content; a folder or a missing path too, for the command to name),
    else the event format :func:`lavacut.data.formats.identify` gives; a
    file that is neither: its UnsupportedFileError, listing networks and
    the event formats."""
    import h5py

    from lavacut.data import formats

    path = Path(path)
    if not path.is_file() or path.suffix.lower() in NETWORK_SUFFIXES or h5py.is_hdf5(path):
        return None
    return formats.identify(path, also=NETWORKS)


def network_file(path, what: str = "FILE"):
    """``path``, refused if it is an event recording (:func:`event_format`):
    a command on a network takes recordings as --input. A file that is
    neither is left to the NetX reader, which says why it is not one."""
    from lavacut.data import formats
    from lavacut.data.formats.npy import holds_events
    from lavacut.data.input_errors import UnsupportedFileError

    try:
        fmt = event_format(path)
    except UnsupportedFileError:
        if formats.content_format(path) is not None:
            raise  # a recording named for another format: the same answer as inspect and run
        if Path(path).suffix.lower() != ".npz" or not Path(path).is_file():
            return path
        kind = "a frames archive (.npz)"
    else:
        if fmt is None:
            return path
        kind = f"an event recording ({fmt.description})"
        if fmt.name == "npy" and not holds_events(Path(path)):
            kind = "a frames array (.npy)"
    raise LavacutError(
        f"{what} {path} is {kind}, not a network: give it as "
        f"--input (lavacut run NET --input {path}); lavacut inspect {path} describes it"
    )


def request(args, samples=None, outputs=()):
    """The RunRequest of a command that runs an export, its inputs and
    ``outputs`` checked first (:func:`check_io`)."""
    from lavacut.pipelines.run import RunRequest
    from lavacut.shipped import resolve_export

    # a path, or the name of a shipped export (embedded_dense) from any folder; calibrate writes into the
    # file, which is refused for a shipped export
    path = check_input_file(resolve_export(args.file, writable=args.command == "calibrate"), "FILE", folder=True)
    network_file(path)
    if args.command == "calibrate":
        outputs = [(path, "FILE")]  # it writes into FILE: FILE is its output
    check_io(args, outputs, [] if args.command == "calibrate" else [(path, "FILE")])
    return RunRequest(
        path=path,
        config_path=args.config,
        overrides=tuple(args.overrides),
        user_input=getattr(args, "input", None),
        split=getattr(args, "split", None),
        samples=getattr(args, "samples", None) if samples is None else samples,
        force=getattr(args, "force", False),
    )
