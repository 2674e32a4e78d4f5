"""Shared test setup.

- Caches (embedded data set, framed tensors) go to a fresh temporary folder
  per session, so every CI run builds them from scratch.
- Test recordings live in tests/fixtures (see its README).
- No __init__.py in tests/: lava-dl installs a top-level package named
  ``tests`` that must not shadow (or be shadowed by) ours.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Lava fixes the 'fork' start method when first imported and fails if a
# progress bar (tqdm makes a multiprocessing lock) fixed one before:
# lavacut.runtime prepares that once for the whole session.
import lavacut.runtime  # noqa: E402,F401

_CACHE = tempfile.mkdtemp(prefix="lavacut-test-cache-")
os.environ["LAVACUT_CACHE"] = _CACHE

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_CACHE, ignore_errors=True)


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
