"""Small shared helpers: atomic writes, versions, seeding, errors."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import random
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator


class LavacutError(Exception):
    """An error a user can act on; the CLI prints it without a traceback."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would raise KeyboardInterrupt, so that
    every cleanup written for Ctrl-C (Lava runtimes, atomic writes) runs."""


def first_line(exc: BaseException) -> str:
    """An exception's first message line (its type name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_output_path(path: str | os.PathLike, what: str = "output") -> bool:
    """Check, before any expensive work, that ``path`` can be written: not a
    folder, and its nearest existing parent folder is a writable folder.
    Returns True when a file is already there (it will be replaced). Raises
    :class:`LavacutError` naming the path otherwise."""
    path = Path(path)
    if path.is_dir():
        raise LavacutError(f"{what} {path} is a folder; give a file name")
    parent = next((d for d in [path.parent, *path.parent.parents] if d.exists()), Path("."))
    if not parent.is_dir():
        raise LavacutError(f"{what} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise LavacutError(f"{what} {path}: no permission to write in {parent}")
    if path.exists() and not os.access(path, os.W_OK) and not os.access(path.parent, os.W_OK):
        raise LavacutError(f"{what} {path}: the file exists and cannot be replaced (no write permission)")
    return path.exists()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if
    the block finishes. An interrupted write never leaves a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp",
                               dir=path.parent)
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
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=json_default) + "\n")


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


def cache_dir() -> Path:
    """Where built data sets and framed tensors are cached
    (``$LAVACUT_CACHE``, else ``~/.cache/lavacut``)."""
    root = os.environ.get("LAVACUT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "lavacut")
    p = Path(root)
    p.mkdir(parents=True, exist_ok=True)
    return p


def import_slayer():
    """Import lava-dl's SLAYER once, without the banners it prints (an
    optional Prophesee toolbox, no CUDA runtime): irrelevant here, and they
    would pollute reports and piped output."""
    import io

    if "lava.lib.dl.slayer" not in sys.modules:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            import lava.lib.dl.slayer  # noqa: F401
    return sys.modules["lava.lib.dl.slayer"]
