"""``--executor ray`` given what does not work: a malformed, Ray Client or
unreachable address (by --ray-address, a stale RAY_ADDRESS, the config's
``[run] executor``), or no Ray to import. Each is exit 2 within seconds with
one line naming the address and what to do; nothing is started (no Ray
connection, no /dev/shm segment). No cluster is started here: an address
nothing listens on must fail before Ray's own connect (which retries for
minutes); the one cluster started here has no CPU.
"""

from __future__ import annotations

import os
import socket
import sys
import time

import pytest
from lavacut_testing import new_shm, run_cli

RUN = ["run", "embedded_dense", "--samples", "2", "--workers", "2"]


def _closed_port() -> int:
    """A port on this machine nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fails_fast(*args, env=None, match: str) -> str:
    shm = set(os.listdir("/dev/shm"))
    start = time.monotonic()
    r = run_cli(*args, check=False, env=env)
    took = time.monotonic() - start
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stdout[-1000:] + r.stderr[-2000:]
    assert err and match in err[-1], err[-3:]
    assert took < 10, f"took {took:.1f} s"
    if sys.modules.get("ray") is not None:
        assert not sys.modules["ray"].is_initialized()  # nothing joined nor started
    assert not new_shm(shm, grace=0.5)
    return err[-1]


@pytest.mark.parametrize(
    "address, match",
    [
        ("foo", "Ray address 'foo' (--ray-address / RAY_ADDRESS): not HOST:PORT with a port in 1..65535"),
        ("127.0.0.1:99999", "'127.0.0.1:99999' (--ray-address / RAY_ADDRESS): not HOST:PORT"),
        (":6379", "':6379' (--ray-address / RAY_ADDRESS): not HOST:PORT"),
        ("ray://127.0.0.1:10001", "not a ray:// (Ray Client or dashboard) address"),
        ("http://127.0.0.1:8265", "not a http:// (Ray Client or dashboard) address"),
        ("closed", "no Ray cluster answers at 127.0.0.1:{port} (--ray-address / RAY_ADDRESS): Connection refused"),
    ],
)
def test_bad_ray_address_fails_fast(address, match):
    port = _closed_port()
    address = f"127.0.0.1:{port}" if address == "closed" else address
    line = _fails_fast(*RUN, "--executor", "ray", "--ray-address", address, match=match.format(port=port))
    assert "`ray start --head`" in line and "RAY_AUTH_TOKEN" in line  # what to do


def test_stale_ray_address_in_environment_and_config_executor(tmp_path):
    """RAY_ADDRESS left from an old cluster, the executor chosen by --executor
    or by the config's [run] executor = "ray": the same error."""
    port = _closed_port()
    env = {"RAY_ADDRESS": f"127.0.0.1:{port}"}
    match = f"no Ray cluster answers at 127.0.0.1:{port}"
    _fails_fast(*RUN, "--executor", "ray", env=env, match=match)
    cfg = tmp_path / "ray.toml"
    cfg.write_text('[run]\nexecutor = "ray"\n')
    _fails_fast(*RUN, "--config", cfg, env=env, match=match)
    _fails_fast(*RUN, "--config", cfg, "--ray-address", "foo", match="Ray address 'foo'")


def test_executor_ray_without_ray(monkeypatch):
    """Ray not installed: named, with the install command."""
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    _fails_fast(*RUN, "--executor", "ray", match="--executor ray needs Ray: pip install 'lavacut[ray]'")


def test_ray_address_is_the_commands_own(monkeypatch, capsys):
    """--ray-address reaches Ray as RAY_ADDRESS for that command only: a
    process that calls lavacut.cli.main (a notebook, a script) keeps its own
    RAY_ADDRESS, or none."""
    from lavacut.cli import main

    bad = f"127.0.0.1:{_closed_port()}"
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert main([*RUN, "--executor", "ray", "--ray-address", bad]) == 2
    assert "RAY_ADDRESS" not in os.environ
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    assert main([*RUN, "--executor", "ray", "--ray-address", bad]) == 2
    assert os.environ["RAY_ADDRESS"] == "10.0.0.1:6379"
    assert f"no Ray cluster answers at {bad}" in capsys.readouterr().err


@pytest.mark.slow
def test_cluster_with_no_cpu(tmp_path):
    """A real head with no CPU (token authentication, as every test cluster
    here, in a --temp-dir of its own, stopped by its
    processes): exit 2 naming the missing CPUs (Ray would queue the tasks
    forever). The cluster itself is left alone. (A token cluster joined
    without its token: test_ray_executor.py, on its cluster.)"""
    import shutil
    import subprocess
    import tempfile

    from test_ray_executor import PY, RAY, _free_port, cluster_processes, stop_processes

    temp_dir, port = tempfile.mkdtemp(prefix="lcrayt-", dir="/tmp"), _free_port()
    import secrets

    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env.update(RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=os.pathsep.join(sys.path))
    env.pop("RAY_ADDRESS", None)
    head = [RAY, "start", "--head", f"--port={port}", "--include-dashboard=false", "--num-cpus=0"]
    head += [f"--temp-dir={temp_dir}", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    cmd = [PY, "-m", "lavacut", *RUN, "--executor", "ray", "--ray-address", f"127.0.0.1:{port}"]
    try:
        subprocess.run(head, env=env, check=True, capture_output=True, timeout=120)
        start = time.monotonic()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert r.returncode == 2 and "has no CPU to run a task on" in r.stderr.strip().splitlines()[-1], r.stderr[
            -2000:
        ]
        assert time.monotonic() - start < 40
        assert cluster_processes(temp_dir)  # still up: lavacut never stops a cluster it joined
    finally:
        stop_processes(list(cluster_processes(temp_dir)), grace=0)
        shutil.rmtree(temp_dir, ignore_errors=True)
