"""``--executor ray`` on a real Ray cluster of two nodes on this machine
(``ray start --head`` and ``ray start --address``, one CPU each, addressed
through 127.0.0.1, token authentication on): sharded ``evaluate --engine
lava`` (and ``run`` on a Ray lavacut starts) give the local executor's per-sample results, a two-run sweep
lands on both nodes, a driver without the cluster's token is refused, and a failing task, SIGTERM to the driver and a local
Ray that lavacut starts itself leave no Lava process, no /dev/shm segment and
no Ray process behind.

The cluster lives in its own --temp-dir: the teardown stops exactly the
processes whose command line names it (and their children), never other
people's Ray (``ray stop`` would stop every Ray on the machine).
No Lava Process is defined here.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from lavacut_testing import (
    DENSE,
    descendants,
    local_calibration,
    local_torch_evaluation,
    new_shm,
    run_cli,
    run_shard_failing,
    without_timings,
)

pytest.importorskip("ray")

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
RAY = str(Path(PY).with_name("ray"))


# ----------------------------------------------------------------------------- processes of a cluster
def _table() -> dict[int, tuple[str, int]]:
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        out[int(d)] = (cmd, ppid)
    return out


def cluster_processes(temp_dir: str) -> dict[int, str]:
    """Processes whose command line names ``temp_dir`` and all their descendants
    (Ray workers retitle themselves ``ray::...``; Lava's processes are forks of those)."""
    table = _table()
    me = os.getpid()
    roots = [p for p, (cmd, _) in table.items() if temp_dir in cmd and p != me]
    children: dict[int, list[int]] = {}
    for p, (_, pp) in table.items():
        children.setdefault(pp, []).append(p)
    found, todo = set(roots), list(roots)
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in found:
                found.add(c)
                todo.append(c)
    return {p: table[p][0] for p in found if p in table}


def forks_of_ray_workers(temp_dir: str) -> dict[int, str]:
    """Processes whose parent is a Ray worker: Lava's (a worker forks nothing else)."""
    procs = cluster_processes(temp_dir)
    table = _table()
    return {
        p: cmd
        for p, cmd in procs.items()
        if p in table and table[p][1] in procs and procs[table[p][1]].startswith("ray::") and not _is_zombie(p)
    }


def lava_hosts(forks: dict[int, str]) -> set[int]:
    """The Ray workers running Lava graphs: the parents of ``forks``."""
    table = _table()
    return {table[q][1] for q in forks if q in table}


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def stop_processes(pids, grace: float = 15.0) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(not _is_zombie(p) for p in pids if os.path.exists(f"/proc/{p}")):
        time.sleep(0.2)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    _wait_until(lambda: all(_is_zombie(p) for p in pids), 10)  # a killed process goes away asynchronously


def _wait_until(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.5)
    return cond()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sigterm_once(p: subprocess.Popen, running, what: str) -> str:
    """SIGTERM to the lavacut process ``p`` once ``running()`` holds; its
    stderr (killed if it outlives the signal by 120 s)."""
    try:
        assert _wait_until(running, 300), what
        p.send_signal(signal.SIGTERM)
        return p.communicate(timeout=120)[1]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


# ----------------------------------------------------------------------------- the cluster
class Cluster:
    def __init__(self, temp_dir: str, address: str, env: dict[str, str]):
        self.temp_dir, self.address, self.env = temp_dir, address, env
        self.nodes: set[str] = set()  # the node IDs, once both joined

    def lavacut(self, *args, cwd=None, timeout: float = 900, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(
            [PY, "-m", "lavacut", *args], env=self.env, cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw
        )

    def up(self) -> bool:
        """Its GCS server and both raylets (one per node) still running: a
        process check, where node_ids() starts a driver (seconds)."""
        alive = [cmd for p, cmd in cluster_processes(self.temp_dir).items() if not _is_zombie(p)]
        return sum("/raylet " in cmd for cmd in alive) == 2 and any("/gcs_server " in cmd for cmd in alive)

    def node_ids(self) -> set[str]:
        out = subprocess.run(
            [
                PY,
                "-c",
                "import ray; ray.init(log_to_driver=False); "
                "print(' '.join(n['NodeID'] for n in ray.nodes() if n['Alive'])); "
                "ray.shutdown()",
            ],
            env={**self.env, "RAY_ADDRESS": self.address},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        return set(out.stdout.split())


@pytest.fixture(scope="module")
def cluster():
    # a short folder: Ray's unix sockets live under it (107-byte path limit)
    temp_dir = tempfile.mkdtemp(prefix="lcray-", dir="/tmp")
    port = _free_port()
    # the tests' folders too: a task function of this module runs on the nodes
    path = os.pathsep.join([str(REPO), str(REPO / "tests"), str(REPO / "tests" / "runtime")])
    env = {
        **os.environ,
        "PYTHONPATH": path,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    env.pop("RAY_ADDRESS", None)
    common = ["--num-cpus=1", f"--temp-dir={temp_dir}", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    try:
        subprocess.run(
            [RAY, "start", "--head", f"--port={port}", "--include-dashboard=false", *common],
            env=env,
            check=True,
            capture_output=True,
            timeout=180,
        )
        subprocess.run(
            [RAY, "start", f"--address=127.0.0.1:{port}", *common],
            env=env,
            check=True,
            capture_output=True,
            timeout=180,
        )
        c = Cluster(temp_dir, f"127.0.0.1:{port}", env)
        assert _wait_until(lambda: len(c.node_ids()) == 2, 180), "the second node did not join"
        c.nodes = c.node_ids()  # the node IDs stay while the cluster lives
        yield c
    finally:
        # on SIGTERM alone a raylet takes ~10 s and the GCS server stays: killed
        # at once, as `ray stop --force` does (nothing is left in /dev/shm)
        stop_processes(list(cluster_processes(temp_dir)), grace=0)
        left = {p: cmd for p, cmd in cluster_processes(temp_dir).items() if not _is_zombie(p)}
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not left, f"cluster processes left: {left}"


class _Clean:
    """No Lava process under the cluster's workers and no new /dev/shm segment afterwards."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.shm = set(os.listdir("/dev/shm"))

    def check(self, timeout: float = 60.0):
        assert _wait_until(lambda: not forks_of_ray_workers(self.cluster.temp_dir), timeout), (
            f"Lava processes left: {forks_of_ray_workers(self.cluster.temp_dir)}"
        )
        leaked = new_shm(self.shm, grace=timeout)
        assert not leaked, f"/dev/shm left behind: {sorted(leaked)}"


def _per_sample(report: Path) -> list[dict]:
    return json.loads(report.read_text())["per_sample"]


# ----------------------------------------------------------------------------- the seam (fast, no cluster)
def _square(x):
    if x == 3:
        raise ValueError("three is not allowed")
    if x == 4:
        from lavacut.util import LavacutError

        raise LavacutError("bad sample 4")
    return x * x


def test_registry_names_the_executors():
    from lavacut.runtime.executors import EXECUTORS, get_executor
    from lavacut.runtime.executors.ray_cluster import RayExecutor
    from lavacut.util import LavacutError

    assert set(EXECUTORS) == {"local", "ray"}
    ex = get_executor("ray", workers=3)  # nothing started before map()
    assert isinstance(ex, RayExecutor) and ex.workers == 3 and not ex._connected
    with pytest.raises(LavacutError, match="unknown executor 'dask'; choose one of local, ray"):
        get_executor("dask")


@pytest.mark.parametrize("workers", [1, 2])
def test_local_executor_order_and_named_failures(workers):
    from lavacut.runtime.executors import Task, TaskFailed, get_executor
    from lavacut.util import LavacutError

    seen = []
    with get_executor("local", workers=workers) as ex:
        out = ex.map(
            [Task(f"task {x}", _square, {"x": x}) for x in (0, 1, 2, 5)],
            progress=False,
            on_result=lambda i, r: seen.append(i),
        )
    assert out == [0, 1, 4, 25] and sorted(seen) == [0, 1, 2, 3]
    with pytest.raises(LavacutError, match="task 4 failed: bad sample 4"):  # bad input: exit 2
        get_executor("local", workers=workers).map([Task("task 4", _square, {"x": 4})], progress=False)
    if workers > 1:  # forked: any other error is an internal one, named
        with pytest.raises(TaskFailed, match="task 3 failed: ValueError: three is not allowed"):
            get_executor("local", workers=2).map([Task(f"task {x}", _square, {"x": x}) for x in (1, 3)], progress=False)


def test_costliest_tasks_start_first():
    from lavacut.config import load_config
    from lavacut.pipelines.experiments import training_cost
    from lavacut.runtime.executors import Task, start_order

    conv, dense = (training_cost(load_config(REPO / "sims" / f"embedded_{k}.toml")) for k in ("conv", "dense"))
    assert conv > dense
    tasks = [
        Task("dense a", _square, cost=dense),
        Task("conv", _square, cost=conv),
        Task("dense b", _square, cost=dense),
    ]
    assert start_order(tasks) == [1, 0, 2]  # conv first, the others in task order
    assert start_order([Task(str(i), _square) for i in range(3)]) == [0, 1, 2]


def test_ray_puts_the_same_frames_once():
    """A shard's frames are put in the object store once per executor: the
    full-T and the cutoff wave slice the same rows of the same array."""
    import numpy as np

    from lavacut.runtime.executors.ray_cluster import RayExecutor, _array_key

    class CountingStore:
        def __init__(self):
            self.puts = []

        def put(self, value):
            self.puts.append(value)
            return f"ref{len(self.puts)}"

    frames, store, ex = np.zeros((4, 2, 3), np.uint8), CountingStore(), RayExecutor(workers=2)
    put = lambda a: ex._put(store, _array_key(a), a, lambda v: v)  # noqa: E731
    first = [put(frames[0:2]), put(frames[2:4])]
    assert [put(frames[0:2]), put(frames[2:4])] == first and len(store.puts) == 2  # the second wave
    assert put(frames[1:3]) not in first and put(frames[[0, 1]]) not in first  # other rows, a copy
    ex.close()
    assert ex._puts == {}


def test_shipped_folder_round_trip(tmp_path):
    from lavacut.runtime.executors import read_dir, write_dir

    src = tmp_path / "run"
    (src / "sub").mkdir(parents=True)
    (src / "a.net").write_bytes(b"net")
    (src / "sub" / "b.json").write_text("{}")
    os.utime(src / "a.net", (1000, 1000))
    files = read_dir(src)
    write_dir(tmp_path / "copy", files)
    assert read_dir(tmp_path / "copy") == files  # bytes and modification times
    assert (tmp_path / "copy" / "a.net").stat().st_mtime == 1000
    assert read_dir(tmp_path / "missing") == {}


# ----------------------------------------------------------------------------- tests
@pytest.mark.slow
def test_evaluate_sharded_on_two_nodes_equals_local(cluster, tmp_path):
    """The same per-sample decisions, counts and full-T predictions as the
    local executor (run's own path: test_local_ray_started_by_lavacut_is_stopped)."""
    clean = _Clean(cluster)
    # the sweeps and NeuroBench are computed from the merged results on the driver: not what is sharded here
    args = ["evaluate", "embedded_dense", "--engine", "lava", "--no-neurobench", "--no-sweeps"]
    args += ["--samples", "32", "--workers", "2", "--mode", "stream"]
    reports = {e: tmp_path / f"{e}.json" for e in ("local", "ray")}
    run_cli(*args, "--executor", "local", "--report", reports["local"])  # in this process: no second start-up
    res = cluster.lavacut(*args, "--executor", "ray", "--ray-address", cluster.address, "--report", str(reports["ray"]))
    assert res.returncode == 0, res.stderr[-3000:]
    assert all(json.loads(r.read_text())["workers"] == 2 for r in reports.values())
    local, ray_ = _per_sample(reports["local"]), _per_sample(reports["ray"])
    assert len(local) == 32 and local == ray_
    assert len({r["t_c"] for r in ray_}) > 1  # decisions that differ between samples
    assert json.loads(reports["ray"].read_text())["engines_agree"] is True
    clean.check()


@pytest.mark.slow
def test_joining_without_the_token_is_named(cluster, tmp_path):
    """The cluster uses token authentication: lavacut without RAY_AUTH_TOKEN
    makes one bounded attempt and exits 2 naming RAY_AUTH_TOKEN (Ray's
    connect would retry for minutes); the cluster is left alone."""
    env = {k: v for k, v in cluster.env.items() if not k.startswith("RAY_AUTH")}
    start = time.monotonic()
    r = subprocess.run(
        [PY, "-m", "lavacut", "run", "embedded_dense", "--samples", "2", "--workers", "2"]
        + ["--executor", "ray", "--ray-address", cluster.address],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "RAY_AUTH_TOKEN if it uses token" in r.stderr.strip().splitlines()[-1], r.stderr[
        -2000:
    ]
    assert time.monotonic() - start < 40
    assert cluster.up()


@pytest.mark.slow
def test_verify_sharded_on_two_nodes(cluster, tmp_path):
    """verify's Lava side in two shards on the cluster: spike for spike SLAYER's."""
    report = tmp_path / "verify.json"
    args = ["verify", "embedded_dense", "--samples", "8", "--workers", "2", "--report", str(report)]
    res = cluster.lavacut(*args, "--executor", "ray", "--ray-address", cluster.address)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    summary = json.loads(report.read_text())
    assert summary["n_samples"] == summary["n_identical"] == 8


@pytest.mark.slow
def test_sweep_runs_land_on_both_nodes(cluster, tmp_path):
    """Two trainings (+ export, calibrate, evaluate) as Ray tasks, one per node;
    run folders shipped back and written on the driver; a second sweep reuses them."""
    args = [
        "rcs-sweep",
        "--only",
        "quick",
        "--alphas",
        "0",
        "--seeds",
        "0",
        "1",
        "--set",
        "train.epochs=1",
        "--workers",
        "2",
        "--executor",
        "ray",
        "--ray-address",
        cluster.address,
    ]
    res = cluster.lavacut(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads((tmp_path / "sims" / "results" / "rcs_sweep.json").read_text())
    nodes = [r["node"] for r in out["runs"]]
    assert len(nodes) == 2 and set(nodes) == cluster.nodes, nodes  # one run on each node
    for seed in (0, 1):
        run_dir = tmp_path / "runs" / "rcs_sweep" / "quick" / f"a0_s{seed}"
        for f in ("best.pt", "metrics.json", f"quick_a0_s{seed}.net", "rcs_sweep_evaluation.json"):
            assert (run_dir / f).is_file(), f"{run_dir / f} not shipped back"
    again = cluster.lavacut(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("evaluation reused") + again.stderr.count("evaluation reused") == 2


@pytest.mark.slow
def test_calibrate_and_torch_evaluate_sharded_on_two_nodes(cluster, tmp_path, tmp_path_factory):
    """calibrate's and evaluate --engine torch's SLAYER passes (and
    NeuroBench's) in two Ray shards: the calibration stored and the report
    equal one local process's (the references test_sharded_passes.py compares
    two local workers with)."""
    from lavacut.export.validate import read_metadata

    clean = _Clean(cluster)
    on = ["--workers", "2", "--executor", "ray", "--ray-address", cluster.address]
    local_net, _ = local_calibration(tmp_path_factory)
    net = tmp_path / "ray.net"
    shutil.copy(DENSE, net)
    res = cluster.lavacut("calibrate", str(net), *on)
    assert res.returncode == 0, res.stderr[-3000:]
    stored = [(m["cutoff"], m["calibration"]) for m in map(read_metadata, (local_net, net))]
    assert stored[0] == stored[1]
    # --no-sweeps: the sweeps are computed from the merged spikes on the driver (compared without them)
    report = tmp_path / "ray.json"
    args = ["evaluate", str(DENSE), "--engine", "torch", "--samples", "150", "--no-sweeps", "--report", str(report)]
    res = cluster.lavacut(*args, *on)
    assert res.returncode == 0, res.stderr[-3000:]
    local, ray_ = local_torch_evaluation(tmp_path_factory), json.loads(report.read_text())
    assert "sweeps" in local and "sweeps" not in ray_
    local = {k: v for k, v in local.items() if k not in ("sweeps", "sweep_calibration")}
    assert len(ray_["per_sample"]) == 150 and "error" not in ray_["neurobench"]
    assert without_timings(local) == without_timings(ray_)
    clean.check()


def failing_shard(**shard):
    """A shard task that fails in its Lava graph (sample 2 of the second shard)."""
    from lavacut.runtime import workers

    if int(shard["labels"][0]) == 1:  # the labels mark the second shard
        return run_shard_failing(shard, "injected task failure")
    return workers.run_shard(**shard)


_FAILING_DRIVER = """
import numpy as np
import lavacut.runtime
import ray
from test_ray_executor import failing_shard
from lavacut.cutoff.rules import FixedT
from lavacut.export.artifact import Export
from lavacut.runtime import workers
from lavacut.runtime.executors import TaskFailed
from lavacut.runtime.runner import run_split
from lavacut.shipped import resolve_export

export = resolve_export("embedded_dense")
ex = Export.open(export)
frames = ex.frames(ex.config(None, []), "test", 16, progress=False).frames
workers.run_shard = failing_shard
try:
    run_split(export, frames, np.repeat([0, 1], 8), FixedT(), mode="stream", progress=False, workers=2,
              executor="ray")
except TaskFailed as e:
    print("TaskFailed:", str(e).splitlines()[0])
print("connected after:", ray.is_initialized())
"""


@pytest.mark.slow
def test_failing_task_is_named_and_leaves_nothing(cluster):
    """A shard failing inside its Lava graph: named, an internal error; the
    other shard cancelled; the driver disconnected, the cluster still up."""
    clean = _Clean(cluster)
    res = subprocess.run(
        [PY, "-c", _FAILING_DRIVER],
        env={**cluster.env, "RAY_ADDRESS": cluster.address},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "TaskFailed: shard 1 (samples 8..15) failed: RuntimeError: injected task failure" in res.stdout, (
        res.stdout + res.stderr[-3000:]
    )
    assert "connected after: False" in res.stdout
    assert cluster.up()
    clean.check()


@pytest.mark.slow
def test_sigterm_cancels_every_task(cluster, tmp_path):
    """SIGTERM to the driver mid-run: exit 143, the running shards cancelled,
    their Lava runtimes stopped on the nodes, and the third shard, queued for
    a CPU (three workers on the cluster's two: lavacut says so), never runs;
    the cluster itself stays up."""
    clean = _Clean(cluster)
    # one lane per shard: the shards must still be running when the signal comes (32 lanes end them in 1 s)
    p = subprocess.Popen(
        [
            PY,
            "-m",
            "lavacut",
            "run",
            "embedded_dense",
            "--samples",
            "0",
            "--workers",
            "3",
            "--lanes",
            "1",
            "--mode",
            "stream",
            "--executor",
            "ray",
            "--ray-address",
            cluster.address,
            "--report",
            str(tmp_path / "r.json"),
        ],
        env=cluster.env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    # both shards are running Lava graphs on the nodes
    err = _sigterm_once(p, lambda: len(lava_hosts(forks_of_ray_workers(cluster.temp_dir))) >= 2, "no shards started")
    assert p.returncode == 143, err[-3000:]
    assert "terminated (SIGTERM)" in err
    note = "the Ray cluster has 2 CPU(s) and --workers is 3: 2 task(s) run at a time, the others wait"
    assert err.count(note) == 1, err[-3000:]
    clean.check()
    assert cluster.up()


@pytest.mark.slow
def test_local_ray_started_by_lavacut_is_stopped(tmp_path):
    """Without an address lavacut starts a Ray of its own for the command and
    stops it at the end, after success and after SIGTERM: no process it started is left."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    cmd = [
        PY,
        "-m",
        "lavacut",
        "run",
        "embedded_dense",
        "--workers",
        "2",
        "--lanes",
        "1",
        "--mode",
        "stream",
        "--executor",
        "ray",
    ]
    ok = subprocess.run(
        cmd + ["--samples", "6", "--report", str(tmp_path / "a.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ok.returncode == 0, ok.stderr[-3000:]
    run_cli(*cmd[3:-1], "local", "--samples", "6", "--report", tmp_path / "local.json")  # cmd[-1]: "ray"
    assert _per_sample(tmp_path / "a.json") == _per_sample(tmp_path / "local.json")  # run sharded on Ray == local
    assert len(_per_sample(tmp_path / "a.json")) == 6

    p = subprocess.Popen(
        cmd + ["--samples", "0", "--report", str(tmp_path / "b.json")],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    started: set[int] = set()

    def lava_running() -> bool:
        started.update(descendants(p.pid))
        table = _table()
        workers = {q for q in started if q in table and table[q][0].startswith("ray::")}
        return bool(lava_hosts({q: "" for q, (_, pp) in table.items() if pp in workers}))

    err = _sigterm_once(p, lava_running, "no shard started")
    assert p.returncode == 143, err[-3000:]
    assert _wait_until(lambda: not [q for q in started if os.path.exists(f"/proc/{q}") and not _is_zombie(q)], 60), (
        f"processes lavacut started are left: {[_table().get(q) for q in started if os.path.exists(f'/proc/{q}')]}"
    )
