"""Small shared helpers: atomic writes, versions, seeding, errors."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import random
import re
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator


class LavacutError(Exception):
    """An error a user can act on; the CLI prints it without a traceback."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP: the terminal closed), raised where Ctrl-C would
    raise KeyboardInterrupt, so that every cleanup written for Ctrl-C (Lava
    runtimes, atomic writes) runs. ``Terminated(signum)``."""

    @property
    def signum(self) -> int:
        import signal

        return int(self.args[0]) if self.args else int(signal.SIGTERM)


def first_line(exc: BaseException) -> str:
    """An exception's first message line (its type name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


#: the longest file name (bytes) most file systems take (ext4, xfs, btrfs, tmpfs: 255)
NAME_MAX = 255


def _file_kind(mode: int) -> str:
    """What a non-regular file is, for messages."""
    for test, kind in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def check_input_file(path: str | os.PathLike, what: str = "input", folder: bool = False) -> Path:
    """Check, before anything opens it, that ``path`` is a regular file (or,
    with ``folder``, a folder): a FIFO, socket or device would hang or be
    read forever. A missing path is left for the caller to name."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return path
    if stat.S_ISREG(mode) or (folder and stat.S_ISDIR(mode)):
        return path
    want = "a regular file or a folder" if folder else "a regular file"
    raise LavacutError(f"{what} {path} is {_file_kind(mode)}, not {want}")


#: the longest path (bytes) Linux takes in one system call
PATH_MAX = 4096


def _short(name: str) -> str:
    return name if len(name) <= 50 else f"{name[:20]}...{name[-20:]}"


def check_path_lengths(path: Path, what: str) -> None:
    """Every component of ``path`` within :data:`NAME_MAX` bytes and the
    whole within :data:`PATH_MAX`: else the write fails with
    ENAMETOOLONG, after the work."""
    for part in path.parts:
        n = len(part.encode("utf-8", "surrogateescape"))
        if n > NAME_MAX:
            raise LavacutError(
                f"{what}: the name {_short(part)} is {n} bytes, longer than the "
                f"{NAME_MAX} a file system takes; give a shorter name"
            )
    n = len(os.fsencode(os.path.abspath(path)))
    if n > PATH_MAX - 200:  # room for the temp file's and the sibling files' names
        raise LavacutError(
            f"{what} {_short(str(path))}: the path is {n} bytes long, more than the {PATH_MAX - 200} "
            f"lavacut writes to (the system's limit is {PATH_MAX}); give a shorter path"
        )


def check_output_path(path: str | os.PathLike, what: str = "output") -> bool:
    """Check, before any expensive work, that ``path`` can be written: a
    regular file or a new path (never a folder, device, FIFO or socket: the
    atomic rename would replace the node; nor a symlink to nothing), a name
    the file system takes, and its nearest existing parent folder is a
    writable folder. A path ending in ``/`` names a folder and is refused.
    Returns True when a file is already there (it will be replaced). Raises
    :class:`LavacutError` naming the path otherwise."""
    if str(path) == "-":
        raise LavacutError(f"{what} -: lavacut writes its outputs to files, not to stdout; give a file path")
    if isinstance(path, str) and path.endswith(("/", os.sep)):
        raise LavacutError(f"{what} {path} ends in '/', which names a folder; give a file name")
    path = Path(path)
    check_path_lengths(path, what)
    if path.is_symlink() and not path.exists():
        raise LavacutError(
            f"{what} {path} is a symlink to {os.readlink(path)}, which does not exist (or is a loop); "
            f"give the path to write, or remove the link"
        )
    if path.is_dir():
        raise LavacutError(f"{what} {path} is a folder; give a file name")
    with contextlib.suppress(OSError):
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise LavacutError(
                f"{what} {path} is {_file_kind(mode)}; lavacut writes only to a regular file or a new path"
            )
    parent = next((d for d in [path.parent, *path.parent.parents] if d.exists()), Path("."))
    if not parent.is_dir():
        raise LavacutError(f"{what} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise LavacutError(f"{what} {path}: no permission to write in {parent}")
    if path.exists() and not os.access(path, os.W_OK) and not os.access(path.parent, os.W_OK):
        raise LavacutError(f"{what} {path}: the file exists and cannot be replaced (no write permission)")
    return path.exists()


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
        return os.path.samefile(a, b)
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (pathlib); the input's own check names it
        return False


def check_outputs(outputs, inputs) -> None:
    """Check every output path before any work: writable
    (:func:`check_output_path`), and none of them is one of the inputs
    (compared resolved, symlinks followed, and by inode): an output never
    replaces an input, nor lands inside an ``--input`` folder of recordings. ``outputs``, ``inputs``: (path, what) pairs, e.g.
    ``("r.json", "--report")``, ``("x.net", "FILE")``; None paths skipped."""
    inputs = [(Path(p), w) for p, w in inputs if p is not None]
    seen: list[tuple[Path, str]] = []
    for out, what in outputs:
        if out is None:
            continue
        check_output_path(out, what)
        out = Path(out)
        for other, other_what in seen:
            if _same_file(out, other) or os.path.abspath(out) == os.path.abspath(other):
                raise LavacutError(
                    f"{what} {out} and {other_what} {other} are the same file: one would overwrite the "
                    f"other; give another path"
                )
        seen.append((out, what))
        for inp, in_what in inputs:
            if _same_file(out, inp):
                raise LavacutError(
                    f"{what} {out} is the {in_what} {inp}: an output never replaces an input; give another path"
                )
            if in_what == "--input" and inp.is_dir() and out.resolve().is_relative_to(inp.resolve()):
                # a report among the recordings is read as one by the next run (or is refused there)
                raise LavacutError(
                    f"{what} {out} is inside the {in_what} folder {inp}: the next run would read it as "
                    f"input; give a path outside it"
                )


def check_name(name: str, what: str, limit: int = 200) -> str:
    """A name that becomes a file name (``--name``, a config's ``name``):
    one path component that stays in its folder (no separators, not ``.``
    or ``..``, not empty), short enough for the file system with the
    suffixes lavacut adds."""
    if not isinstance(name, str) or not name.strip():
        raise LavacutError(f"{what} must not be empty")
    if "/" in name or "\\" in name or name in (".", "..") or "\0" in name:
        raise LavacutError(
            f"{what} {name!r} must be a plain name (no '/', '\\', '..'): it becomes a file name in its folder"
        )
    if len(name.encode("utf-8", "surrogateescape")) > limit:
        raise LavacutError(
            f"{what} is {len(name.encode('utf-8', 'surrogateescape'))} bytes long; at most "
            f"{limit} (it becomes a file name)"
        )
    return name


#: an atomic write's temp file: ``.<name, shortened>.<writer pid>.<random><suffix>``
_TMP_NAME_BYTES = 100


def _tmp_prefix(name: str) -> str:
    short = name.encode("utf-8", "surrogateescape")[:_TMP_NAME_BYTES].decode("utf-8", "ignore")
    return f".{short}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: alive
    return True


def remove_stale_temps(path: Path, max_age_s: float = 60.0) -> list[Path]:
    """Remove the temp files an interrupted atomic write of ``path`` left
    (a kill -9): those whose writer pid is gone, and those of the older
    unnamed-pid form older than ``max_age_s``. A live writer's are kept."""
    prefix = _tmp_prefix(path.name)
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    now = time.time()
    for e in entries:
        if not e.name.startswith(prefix) or not e.is_file(follow_symlinks=False):
            continue
        rest = e.name[len(prefix) :]
        # mkstemp's 8 random characters and a suffix (.tmp, .net, ...): another target's
        # name that happens to start with this prefix does not match
        m = re.fullmatch(r"(?:(\d+)\.)?[a-z0-9_]{8}(?:\.[A-Za-z0-9]{1,8})?", rest)
        if m is None:
            continue
        try:
            pid = int(m.group(1)) if m.group(1) else None
            stale = (
                (pid != os.getpid() and not _pid_alive(pid))
                if pid is not None
                else now - e.stat(follow_symlinks=False).st_mtime > max_age_s
            )
            if stale:
                os.unlink(e.path)
                removed.append(Path(e.path))
        except OSError:
            continue
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if
    the block finishes. An interrupted write never leaves a half-written file
    (a killed one's temp file is removed by the next write of ``path``).
    """
    path = Path(path)
    if path.is_symlink() and path.exists():
        path = Path(os.path.realpath(path))  # write through the user's link: the link stays, its target changes
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f"{_tmp_prefix(path.name)}{os.getpid()}.", suffix=suffix or ".tmp", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json_text(obj, indent=2) + "\n")


def _non_finite(obj: Any, where: str = "") -> str | None:
    """The key path of the first NaN or infinite number in ``obj``."""
    import math

    if isinstance(obj, float) or type(obj).__module__ == "numpy" and not hasattr(obj, "__len__"):
        try:
            return None if math.isfinite(float(obj)) else (where or "the value")
        except (TypeError, ValueError):
            return None
    if isinstance(obj, dict):
        items = ((f"{where}.{k}" if where else str(k), v) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)) or type(obj).__name__ == "ndarray":
        items = ((f"{where}[{i}]", v) for i, v in enumerate(list(obj)))
    else:
        return None
    return next((w for w in (_non_finite(v, k) for k, v in items) if w), None)


def json_text(obj: Any, indent: int | None = None) -> str:
    """``obj`` as strict JSON: NaN and Infinity are not JSON (Python writes
    them, other readers refuse the file), so a report holding one is a bug:
    refused with the key at fault, not written. A value with no honest
    number is written as null (docs/reports.md)."""
    try:
        return json.dumps(obj, indent=indent, default=json_default, allow_nan=False)
    except ValueError:
        where = _non_finite(obj)
        if where is None:
            raise
        raise ValueError(f"{where} is NaN or infinite; lavacut writes only strict JSON (null for no value)") from None


def json_default(o: Any) -> Any:
    """numpy scalars and arrays and paths as plain JSON values."""
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.tight_layout()
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return path


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def versions() -> dict[str, str]:
    """Versions of everything that shapes a result, for reports and exports."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("lavacut", "lava-nc", "lava-dl", "torch", "tonic", "numpy", "h5py", "nir"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    out["platform"] = platform.platform()
    return out


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (when imported) for reproducible runs."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (2**32))
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)


def _cache_setting() -> str:
    """Which setting chose the cache folder, for messages."""
    if os.environ.get("LAVACUT_CACHE"):
        return "$LAVACUT_CACHE"
    return "$XDG_CACHE_HOME/lavacut" if os.environ.get("XDG_CACHE_HOME") else "~/.cache/lavacut"


def cache_error(path: str | os.PathLike, problem: str) -> LavacutError:
    """A cache folder or file that cannot be used, naming it and the setting that chose it."""
    return LavacutError(f"data cache {path} ({_cache_setting()}): {problem}; set LAVACUT_CACHE to a writable folder")


def cache_dir() -> Path:
    """Where built data sets and framed tensors are cached
    (``$LAVACUT_CACHE``, else ``~/.cache/lavacut``), created if missing."""
    root = os.environ.get("LAVACUT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "lavacut"
    )
    return _cache_folder(Path(root))


def _cache_folder(p: Path) -> Path:
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((d for d in [p, *p.parents] if d.exists() and not d.is_dir()), None)
        if blocker is None:
            raise cache_error(p, f"cannot create the folder ({exc.strerror})") from None
        raise cache_error(p, f"{'it' if blocker == p else blocker} is a file, not a folder") from None
    if not p.is_dir():  # a symlink to a file
        raise cache_error(p, "is not a folder")
    return p


def check_cache_writable(folder: Path) -> None:
    """Before a build: the cache folder takes files (else the build is lost
    at its end). A read-only folder holding a valid cache is fine to read."""
    _cache_folder(folder)
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise cache_error(folder, f"cannot write in the folder ({exc.strerror})") from None


def check_cache_files(*paths: Path) -> None:
    """Each cache file a regular file or absent: a folder (or FIFO) in its
    place would make the rename at the end of a long build fail."""
    for path in paths:
        with contextlib.suppress(OSError):
            mode = os.stat(path).st_mode
            if not stat.S_ISREG(mode):
                raise cache_error(path, f"is {_file_kind(mode)}, not a cache file; remove it")


def import_slayer():
    """Import lava-dl's SLAYER once, without the banners it prints (an
    optional Prophesee toolbox, no CUDA runtime): irrelevant here, and they
    would pollute reports and piped output."""
    import io

    if "lava.lib.dl.slayer" not in sys.modules:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            import lava.lib.dl.slayer  # noqa: F401
    return sys.modules["lava.lib.dl.slayer"]


def freeze_loaded() -> None:
    """Move every object made so far to gc's permanent generation
    (``gc.freeze``). Called once the stack is loaded (torch, Lava, netx: some
    450k objects that live as long as the process), and only in a process of
    lavacut's own (the program, a Ray task's worker): every full collection
    walked them all (a 100-sample ``lavacut run``: CPU 6.9 s -> 5.9 s,
    measured)."""
    import gc

    gc.freeze()


def descendant_pids(root: int | None = None) -> set[int]:
    """Pids of every process below ``root`` (default: this one), zombies
    included, read from /proc (Linux; Lava's runtime forks there): what the
    memory benchmark sums and the cleanup tests expect gone."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])  # the name field may hold spaces and ')'
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = set(), [root or os.getpid()]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out
