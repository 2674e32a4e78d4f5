"""Shared test setup.

- Caches (embedded data set, framed tensors) go to a fresh temporary folder
  per session, so every CI run builds them from scratch; parallel workers
  share it (its files are written atomically).
- Test recordings live in tests/fixtures (see its README).
- Each test runs in a fresh working folder (``_working_folder``) and must
  leave the Ctrl-C / SIGTERM handlers as it found them.
- No __init__.py in tests/: lava-dl installs a top-level package named
  ``tests`` that must not shadow (or be shadowed by) ours.
"""

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

# One BLAS and one OpenMP thread per test process, and so per core under
# `make test` (pytest-xdist, a worker per core); subprocesses inherit it.
# Idle OpenBLAS and OpenMP (torch) threads spin-wait: ~5% of the suite's CPU
# went to them (measured with perf). Set before anything loads numpy or torch.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# Lava fixes the 'fork' start method when first imported and fails if a
# progress bar (tqdm makes a multiprocessing lock) fixed one before:
# lavacut.runtime prepares that once for the whole session.
import lavacut.runtime  # noqa: E402,F401

# pytest-xdist workers (PYTEST_XDIST_WORKER) share the cache their controller made
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
_CACHE = os.environ["LAVACUT_TEST_CACHE"] if _WORKER else tempfile.mkdtemp(prefix="lavacut-test-cache-")
os.environ["LAVACUT_TEST_CACHE"] = os.environ["LAVACUT_CACHE"] = _CACHE

# A background job of a non-interactive shell (a CI runner's, say) starts
# with Ctrl-C ignored, and every subprocess inherits that; the tests press
# Ctrl-C as at a terminal, so the suite handles it as Python does by default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


def pytest_collection_finish(session):
    """In a process that runs tests: the stack and the collected tests live
    as long as the session, out of the collector's reach as in the lavacut
    program (:func:`lavacut.util.freeze_loaded`)."""
    if _WORKER or not getattr(session.config.option, "numprocesses", None):
        import lavacut.pipelines.run  # noqa: F401
        from lavacut.util import freeze_loaded

        freeze_loaded()


def pytest_sessionfinish(session, exitstatus):
    if not _WORKER:  # the controller, after all workers
        shutil.rmtree(_CACHE, ignore_errors=True)


#: the test files that take longest (wall time, measured), longest first. pytest-xdist
#: hands whole files to its workers, by its own order most tests first: the Ray file
#: (few tests, ~5 minutes) started last and set when the suite ended
LONGEST_FIRST = (
    "runtime/test_ray_executor.py",
    "runtime/test_lanes.py",
    "runtime/test_layouts.py",
    "runtime/test_fast_models.py",
    "runtime/test_runtime.py",
    "train/test_train.py",
    "pipelines/test_rcs_sweep.py",
    "test_packaging.py",
    "runtime/test_runtime_memory.py",  # one test of ~15 s: the last to end when it started last
)


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with the files of LONGEST_FIRST handed out first, in
    that order, then the others in pytest-xdist's order."""
    if config.getvalue("dist") != "loadfile":
        return None  # pytest-xdist's own scheduler
    from xdist.scheduler import LoadFileScheduling

    class LongestFirst(LoadFileScheduling):
        def _assign_work_unit(self, node):
            for name in reversed(LONGEST_FIRST):  # the queue is an OrderedDict of files
                for scope in [f for f in self.workqueue if f.endswith(name)]:
                    self.workqueue.move_to_end(scope, last=False)
            super()._assign_work_unit(node)

    return LongestFirst(config, log)


@pytest.fixture(autouse=True)
def _working_folder(tmp_path_factory, monkeypatch):
    """Every test runs in a fresh working folder of its own: outputs at
    default relative paths (``reports/<command>.json``) never land in the
    clone, nor meet another test's when two workers run side by side."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(autouse=True)
def _stop_signal_handlers_restored():
    """Ctrl-C, SIGTERM and SIGHUP handled as before the test: a handler left behind
    (or SIGINT left ignored, which every later subprocess inherits) would
    change what the next tests see."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    left = {
        signal.Signals(sig).name: signal.getsignal(sig) for sig, h in before.items() if signal.getsignal(sig) is not h
    }
    for sig, h in before.items():
        signal.signal(sig, h)
    assert not left, f"signal handlers left changed: {left}"


@pytest.fixture(scope="session")
def nmnist_sample() -> Path:
    """The real N-MNIST recording of tests/fixtures."""
    return FIXTURES / "nmnist_sample.bin"


@pytest.fixture(scope="session")
def embedded_train():
    from lavacut.data.embedded import EmbeddedDigits

    return EmbeddedDigits("train", progress=False)


@pytest.fixture(scope="session")
def embedded_test():
    from lavacut.data.embedded import EmbeddedDigits

    return EmbeddedDigits("test", progress=False)
