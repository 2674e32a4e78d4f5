"""The ``lavacut`` command: one entry point, one subcommand per pipeline stage.

Every subcommand that runs an experiment takes ``--config FILE.toml`` (see
sims/) and ``--set key.sub=value`` overrides: one way to configure a run.
The options the commands share are parent parsers in
:mod:`lavacut.cli.options`, with one name, default and meaning each; the
commands live in :mod:`~lavacut.cli.train` (data, train),
:mod:`~lavacut.cli.export` (export, import, inspect, check, list),
:mod:`~lavacut.cli.run` (calibrate, verify, evaluate, run, demo) and
:mod:`~lavacut.cli.sweeps` (experiments, rcs-sweep). Each command imports its
pipeline when it runs: they pull in torch and Lava, which ``lavacut --help``
should not wait for.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from lavacut.cli import export, options, run, sweeps, train
from lavacut.cli.common import check_local_workers
from lavacut.progress import set_quiet
from lavacut.util import LavacutError, Terminated, first_line, freeze_loaded


def version_text() -> str:
    """What ``lavacut --version`` prints: lavacut (and where it runs from),
    lava-nc, lava-dl, torch and Python."""
    import lavacut
    from lavacut.util import versions

    v = versions()
    return "\n".join(
        [
            f"lavacut {lavacut.__version__} ({Path(lavacut.__file__).parent})",
            *(f"{dist} {v[dist]}" for dist in ("lava-nc", "lava-dl", "torch")),
            f"Python {v['python']} ({sys.executable})",
        ]
    )


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
        epilog=EXIT_CODES,
        parents=[options.common()],
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="print the versions of lavacut, lava-nc, lava-dl, torch and Python, and exit",
    )
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", help="one stage of the pipeline; 'lavacut COMMAND --help' says more"
    )
    for commands in (train, export, run, sweeps):
        commands.add_parsers(sub)
    return parser


#: exit codes (also in ``lavacut --help``)
EXIT_BAD_INPUT, EXIT_INTERNAL = 2, 3  # (0 ok, 1 a check failed: the commands return those)
EXIT_CODES = (
    "exit codes: 0 ok; 1 a check failed (verify, inspect, check); 2 bad usage or input (one line naming "
    "the file, field or option); 3 an internal error (a bug: rerun with --debug for the traceback); "
    "130 Ctrl-C; 143 SIGTERM; 129 SIGHUP (the terminal closed; nohup keeps lavacut running). Every Lava "
    "runtime is stopped before lavacut exits."
)


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
            signum = info.exc_value.signum if isinstance(info.exc_value, Terminated) else signal.SIGINT
            timer = threading.Timer(0.01, os.kill, (os.getpid(), signum))
            timer.daemon = True
            timer.start()
            return
        hook(info)

    return on_unraisable


def _deleted_cwd() -> str | None:
    """The working folder, if it was deleted (else None)."""
    try:
        os.getcwd()
    except FileNotFoundError:
        return os.path.realpath("/proc/self/cwd").removesuffix(" (deleted)")
    return None


def _os_error_message(exc: OSError) -> str:
    what = exc.strerror or str(exc)
    where = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p)
    gone = _deleted_cwd()
    if gone is not None and where and not os.path.isabs(str(exc.filename)):
        what += f" (the working folder {gone} was deleted while lavacut ran)"
    return f"{where}: {what}" if where else what


def program() -> int:
    """The ``lavacut`` program (the console script, ``python -m lavacut``):
    :func:`main` in a process of its own."""
    return main(own_process=True)


def _settle_imports() -> None:
    """The stack every command imports (torch, Lava, netx, the pipelines),
    loaded and frozen (:func:`lavacut.util.freeze_loaded`)."""
    import lavacut.pipelines.run  # noqa: F401

    freeze_loaded()


def main(argv: list[str] | None = None, *, own_process: bool = False) -> int:
    """Run one command line (``argv``, else ``sys.argv``); returns the exit
    code. ``own_process``: see :func:`program`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line, before or after the command
    quiet = "--quiet" in argv  # likewise
    argv = [a for a in argv if a not in ("--debug", "--quiet")]
    set_quiet(quiet)
    parser = build_parser()
    args = parser.parse_args(argv)  # bad usage: argparse prints it and exits 2
    args.config = getattr(args, "config", None)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    where = f"lavacut {args.command}"
    gone = _deleted_cwd()
    if gone is not None:  # outputs at relative paths would fail (or torch's import abort) mid-run
        print(
            f"{where}: error: the working folder {gone} was deleted; cd to an existing folder (lavacut "
            f"writes its default outputs, reports/ and runs/, there)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    # SIGTERM (a job manager, `timeout`) unwinds like Ctrl-C: every Lava
    # runtime and temporary file is cleaned up on the way out
    # SIGHUP (the terminal closed) likewise, unless started under nohup
    main_thread = threading.current_thread() is threading.main_thread()
    hup = main_thread and signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN
    old_term = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    old_hup = signal.signal(signal.SIGHUP, _on_sigterm) if hup else None
    old_unraisable, sys.unraisablehook = sys.unraisablehook, _unraisable(sys.unraisablehook)
    # --ray-address reaches Ray as RAY_ADDRESS: for this command only, not for the rest of a caller's process
    ray_address = os.environ.get("RAY_ADDRESS")
    try:
        if own_process:
            _settle_imports()
        check_local_workers(args)
        return int(args.func(args) or 0)
    except LavacutError as exc:
        if debug:
            raise
        print(f"{where}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:
        hint = getattr(args, "interrupt_hint", "")
        if isinstance(exc, Terminated):
            print(f"{where}: terminated ({signal.Signals(exc.signum).name}){hint}", file=sys.stderr)
            return 128 + exc.signum
        print(f"{where}: interrupted{hint}", file=sys.stderr)
        return 130
    except OSError as exc:  # a path the user gave: missing, a folder, no permission, disk full
        if debug:
            raise
        print(f"{where}: error: {_os_error_message(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, no traceback
        if debug:
            raise
        print(
            f"{where}: internal error: {type(exc).__name__}: {first_line(exc)} "
            f"(this is a bug in lavacut or a library it uses; rerun with --debug for the traceback and "
            f"report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    finally:
        sys.unraisablehook = old_unraisable
        if ray_address is None:
            os.environ.pop("RAY_ADDRESS", None)
        else:
            os.environ["RAY_ADDRESS"] = ray_address
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        if old_hup is not None:
            signal.signal(signal.SIGHUP, old_hup)
