"""lavacut: event data in, SLAYER training with the RCS regulariser, NetX export,
a Lava cutoff monitor that halts inference when the decision is confident, and
measurement of the timesteps, accuracy, wall-clock and synaptic operations saved.

The package folders follow the pipeline:
``data`` (events in) -> ``train`` -> ``export`` -> ``runtime`` (run on Lava)
-> ``measure``; ``cli`` is the command-line entry point.

From Python (:mod:`lavacut.api`, reference in docs/api.md)::

    import lavacut
    net = lavacut.load("embedded_dense")          # a shipped export's name, or a .net path
    out = lavacut.run(net.path, samples=20)       # Lava, full T and with the cutoff
    print(out.accuracy_cutoff, out.mean_t_cutoff, out.cutoff.t_c)
"""

import sys

if sys.version_info[:2] != (3, 10):  # pragma: no cover - checked at import
    raise ImportError(
        "lavacut needs Python 3.10 (lava-nc 0.10.0 and lava-dl 0.6.0 declare "
        f"<3.11 and fail to import on newer versions); this is Python "
        f"{sys.version.split()[0]} at {sys.executable}."
    )

# the one place the version is written: pyproject.toml reads it (dynamic version), reports and
# `lavacut --version` print it; CHANGELOG.md says what each version changed
__version__ = "0.1.0"

# the flat API (its functions import the pipelines when called: `import lavacut` stays light)
from lavacut.api import Evaluation, Report, RunOutcome, evaluate, load, run, verify  # noqa: E402

__all__ = ["load", "run", "evaluate", "verify", "Report", "RunOutcome", "Evaluation", "__version__"]
