"""Where the resources lavacut ships are: the default exports
(``netx_exports/*.net``) and the experiment recipes (``sims/*.toml``).

The folders ``netx_exports/`` and ``sims/`` at the top of the repository are
the one source: a clone (and the editable install that runs from it) reads
them there; a wheel carries a copy the build takes from them
(``setup.py`` copies them into ``lavacut/_shipped/`` of the wheel, never into
the source tree), found through :mod:`importlib.resources`. Commands read
these resources and write their outputs to the working folder (or ``--out``),
never beside the installed package.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from lavacut.util import LavacutError

#: shipped folder -> the files of it that are shipped
KINDS = {"netx_exports": "*.net", "sims": "*.toml"}
#: where a wheel carries them, inside the lavacut package
PACKAGE_DATA = "_shipped"
#: the exports the project ships (netx_exports/NAME.net, regenerated from
#: sims/NAME.toml by ``lavacut experiments``, in this order): read-only for
#: every user command, in a clone as in the installed package
SHIPPED_EXPORTS = ("embedded_dense", "embedded_dense_rcs", "embedded_conv", "embedded_conv_rcs")


def checkout_root() -> Path | None:
    """The repository this lavacut runs from (a clone, an editable install),
    or None for an installed wheel."""
    root = Path(__file__).resolve().parent.parent
    project = root / "pyproject.toml"
    if (
        project.is_file()
        and all((root / kind).is_dir() for kind in KINDS)
        and 'name = "lavacut"' in project.read_text(encoding="utf-8", errors="replace")
    ):
        return root
    return None


def _package_dir(kind: str) -> Path:
    res = importlib.resources.files("lavacut") / PACKAGE_DATA / kind
    return Path(str(res))


def shipped_dir(kind: str) -> Path:
    """The folder of shipped ``kind`` ('netx_exports' or 'sims'): the
    clone's own first, else the installed package data."""
    if kind not in KINDS:
        raise ValueError(f"unknown shipped folder {kind!r} (one of {sorted(KINDS)})")
    root = checkout_root()
    if root is not None:
        return root / kind
    path = _package_dir(kind)
    if not path.is_dir():
        raise LavacutError(
            f"{path}: the shipped {kind}/ folder is missing from this lavacut installation (a "
            f"wheel built without it?); rebuild the wheel from a clone with 'pip wheel . --no-deps'"
        )
    return path


def is_package_data(path: str | Path) -> bool:
    """Whether ``path`` lies in the installed package's shipped copy (which
    commands must never write to)."""
    try:
        Path(path).resolve().relative_to(Path(str(importlib.resources.files("lavacut"))).resolve() / PACKAGE_DATA)
    except ValueError:
        return False
    return True


def is_shipped_export(path: str | Path) -> bool:
    """Whether ``path`` (symlinks followed) is a shipped export: the
    installed package's copy, or a clone's ``netx_exports/NAME.net`` of
    :data:`SHIPPED_EXPORTS`."""
    if is_package_data(path):
        return True
    root = checkout_root()
    if root is None:
        return False
    resolved = Path(path).resolve()
    return (
        resolved.parent == (root / "netx_exports").resolve()
        and resolved.suffix == ".net"
        and resolved.stem in SHIPPED_EXPORTS
    )


def check_not_shipped(path: str | Path, what: str, hint: str | None = None) -> None:
    """Refuse a user command's write into a shipped export (outputs are
    checked with this before any work); ``lavacut experiments`` and
    ``rcs-sweep`` regenerate them through the pipelines, not through here.
    ``hint``: what to do instead (default: copy it, then calibrate the copy)."""
    if is_shipped_export(path):
        where = "inside the installed lavacut package" if is_package_data(path) else "of this clone"
        copy = f"cp {Path(path).resolve()} my.net"
        raise LavacutError(
            f"{what} {path} is a shipped export {where}, which commands do not write to; "
            + (f"{hint} (or copy it first: {copy})" if hint else f"copy it first ({copy} && lavacut calibrate my.net)")
        )


def shipped_names(kind: str = "netx_exports") -> list[str]:
    """The names (file stems) of the shipped ``kind`` files."""
    return sorted(p.stem for p in shipped_dir(kind).glob(KINDS[kind]))


def shipped_file(kind: str, name: str) -> Path:
    """One shipped file by name ('embedded_dense' or 'embedded_dense.net')."""
    suffix = KINDS[kind][1:]
    stem = name[: -len(suffix)] if name.endswith(suffix) else name
    path = shipped_dir(kind) / f"{stem}{suffix}"
    if not path.is_file():
        raise LavacutError(
            f"{path}: no shipped {kind} file named {stem!r} (shipped: {', '.join(shipped_names(kind)) or 'none'})"
        )
    return path


def resolve_export(arg: str | Path, writable: bool = False) -> Path:
    """The NetX file a command names: an existing path as given; else a
    shipped export by name (``embedded_dense``, ``embedded_dense.net``, or
    ``netx_exports/embedded_dense.net`` as the README writes it, from any
    folder). Anything else is returned unchanged, for the caller to report
    as missing. ``writable``: the command writes into the file (calibrate),
    which is refused for a shipped export (:func:`check_not_shipped`)."""
    path = Path(arg)
    if path.exists() and not path.is_dir():  # a file (or a FIFO, a device: the caller refuses those)
        found = path
    else:
        shipped_form = len(path.parts) == 1 or (len(path.parts) == 2 and path.parts[0] == "netx_exports")
        if not shipped_form or path.suffix not in ("", ".net"):
            return path
        try:
            found = shipped_file("netx_exports", path.name)
        except LavacutError:
            if path.suffix:
                return path  # a .net path that does not exist: the caller names it
            raise LavacutError(
                f"{arg}: no such file here ({Path.cwd()}), nor a shipped export of that name "
                f"(shipped: {', '.join(shipped_names())})"
            ) from None
    if writable:
        check_not_shipped(found, "FILE")
    return found
