"""``python -m lavacut.cli``: the same as the ``lavacut`` command."""

import sys

from lavacut.cli import program

if __name__ == "__main__":
    sys.exit(program())
