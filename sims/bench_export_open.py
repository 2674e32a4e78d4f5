"""``Export.open`` timing of two lavacut source trees side by side (not a
test: timings depend on the machine and its load). Each tree runs in its own
interpreter, alternating; CPU time per open (the machine is shared), best
and median.

    git archive <base-commit> lavacut | tar -x -C /tmp/base
    .venv/bin/python sims/bench_export_open.py /tmp/base . netx_exports/embedded_dense.net netx_exports/embedded_conv.net
"""

import json
import os
import statistics
import subprocess
import sys

N = 30  # opens per interpreter
ROUNDS = 4  # interpreters per tree, alternating
CODE = r"""
import json, sys, time
import lavacut
assert lavacut.__file__.startswith(sys.argv[3]), lavacut.__file__
from lavacut.export.artifact import Export
Export.open(sys.argv[1])  # imports, OS file cache
ts = []
for _ in range(int(sys.argv[2])):
    t = time.process_time()
    Export.open(sys.argv[1])
    ts.append(time.process_time() - t)
print(json.dumps(ts))
"""


def opens(tree: str, net: str) -> list[float]:
    """Seconds per open of ``net`` with the lavacut of ``tree`` (run from /:
    ``python -c`` puts its cwd before PYTHONPATH)."""
    tree = os.path.abspath(tree)
    out = subprocess.run(
        [sys.executable, "-c", CODE, os.path.abspath(net), str(N), tree],
        env={**os.environ, "PYTHONPATH": tree},
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(before: str, after: str, nets: list[str]) -> None:
    def fmt(ts):
        return f"best {min(ts) * 1e3:6.1f} ms  median {statistics.median(ts) * 1e3:6.1f} ms"

    for net in nets:
        b, a = [], []
        for _ in range(ROUNDS):
            b += opens(before, net)
            a += opens(after, net)
        print(f"{net}\n  before ({before}): {fmt(b)}\n  after  ({after}): {fmt(a)}")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
