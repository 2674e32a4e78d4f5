"""Build hook: the wheel carries the shipped exports and experiment recipes.

All metadata is in pyproject.toml. This file only extends ``build_py`` so
that a (non-editable) build copies ``netx_exports/*.net`` and ``sims/*.toml``
from the top of the repository into ``lavacut/_shipped/`` of the build
folder. The top-level folders stay the one source: nothing is copied into
the source tree, and an editable install reads them where they are
(``lavacut.shipped``).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = {"netx_exports": "*.net", "sims": "*.toml"}  # = lavacut.shipped.KINDS


class BuildPyWithShipped(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # the clone's own folders are read in place
        for kind, pattern in SHIPPED.items():
            files = sorted((ROOT / kind).glob(pattern))
            if not files:
                raise SystemExit(f"{ROOT / kind}: no {pattern} to ship (the wheel needs them)")
            dest = Path(self.build_lib) / "lavacut" / "_shipped" / kind
            shutil.rmtree(dest, ignore_errors=True)  # no file left from an earlier build
            self.mkpath(str(dest))
            for f in files:
                self.copy_file(str(f), str(dest / f.name))


setup(cmdclass={"build_py": BuildPyWithShipped})
