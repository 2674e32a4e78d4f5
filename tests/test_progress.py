"""lavacut.progress: bars only on a terminal, never with --quiet."""

from __future__ import annotations

import io

import pytest

from lavacut import progress
from lavacut.cli import main


class Terminal(io.StringIO):
    """A stderr that says it is a terminal (what tqdm draws is kept to read)."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal(monkeypatch):
    """Set in the test body: pytest's output capture resets sys.stderr
    between a fixture's setup and the test call."""

    def attach() -> Terminal:
        term = Terminal()
        monkeypatch.setattr("sys.stderr", term)
        return term

    yield attach
    progress.set_quiet(False)


def test_bar_drawn_on_a_terminal_only(terminal, monkeypatch):
    terminal = terminal()
    assert list(progress.bar(range(3), desc="work")) == [0, 1, 2]
    assert "work" in terminal.getvalue() and "3/3" in terminal.getvalue()
    assert not progress.shown(enabled=False)
    log = io.StringIO()  # a log file or a pipe: no bar, the loop still runs
    monkeypatch.setattr("sys.stderr", log)
    assert not progress.shown()
    assert list(progress.bar(range(3), desc="work")) == [0, 1, 2]
    assert log.getvalue() == ""


def test_quiet_silences_bars(terminal):
    terminal = terminal()
    progress.set_quiet(True)
    assert not progress.shown()
    assert sum(progress.bar(range(4), desc="work")) == 6
    assert terminal.getvalue() == ""
    from lavacut.runtime.result import progress_bar

    assert progress_bar(5, True) is None
    progress.set_quiet(False)
    assert progress.shown()


@pytest.mark.parametrize("argv", [["--quiet", "list"], ["list", "--quiet"]])
def test_cli_quiet_anywhere(argv, capsys):
    try:
        assert main(argv) == 0
        assert not progress.shown() and "embedded_dense" in capsys.readouterr().out
    finally:
        progress.set_quiet(False)
