"""Packaging: the shipped resources found from any folder (lavacut.shipped),
the report schema of docs/reports.md checked against real reports, the
wheel's contents, and (slow) the wheel installed outside the clone running
``lavacut --version`` and ``lavacut demo`` from an empty folder."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from lavacut_testing import REPO, run_cli

DOC = REPO / "docs" / "reports.md"
SHIPPED = {"netx_exports": "*.net", "sims": "*.toml"}
DEMO_SAMPLES = "12"


# ----------------------------------------------------------------------------- shipped resources in the clone
def test_clone_reads_the_top_level_folders(tmp_path, monkeypatch):
    from lavacut.shipped import checkout_root, is_package_data, resolve_export, shipped_dir, shipped_names
    from lavacut.util import LavacutError

    monkeypatch.chdir(tmp_path)  # any folder: the clone's files all the same
    assert checkout_root() == REPO
    assert shipped_dir("netx_exports") == REPO / "netx_exports" and shipped_dir("sims") == REPO / "sims"
    dense = REPO / "netx_exports" / "embedded_dense.net"
    assert "embedded_dense" in shipped_names()
    from lavacut.pipelines.experiments import EXPERIMENTS  # `lavacut experiments` reads these recipes

    assert set(EXPERIMENTS) <= set(shipped_names("sims"))
    for arg in ("embedded_dense", "embedded_dense.net", "netx_exports/embedded_dense.net", dense):
        assert resolve_export(arg) == dense
    with pytest.raises(LavacutError, match="shipped export of this clone.*copy it first"):
        resolve_export("embedded_dense", writable=True)  # shipped: read-only in a clone too
    assert not is_package_data(dense)
    # a file in the working folder wins over a shipped export of the same name
    (tmp_path / "embedded_dense.net").write_bytes(b"mine")
    assert resolve_export("embedded_dense.net") == Path("embedded_dense.net")
    # a missing .net path is left for the command to name; an unknown bare name says what is shipped
    assert resolve_export("elsewhere/missing.net") == Path("elsewhere/missing.net")
    with pytest.raises(LavacutError, match=r"no_such_net: no such file here .*shipped: .*embedded_dense"):
        resolve_export("no_such_net")


def test_python_m_lavacut_version():
    r = subprocess.run(
        [sys.executable, "-m", "lavacut", "--version"], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert r.returncode == 0, r.stderr
    _check_version_text(r.stdout, REPO / "lavacut")


def _check_version_text(text: str, package_dir: Path) -> None:
    import lavacut

    lines = text.strip().splitlines()
    assert lines[0] == f"lavacut {lavacut.__version__} ({package_dir})", text
    names = [ln.split()[0] for ln in lines]
    assert names == ["lavacut", "lava-nc", "lava-dl", "torch", "Python"], text
    assert lines[1] == "lava-nc 0.10.0" and lines[2] == "lava-dl 0.6.0" and lines[3].startswith("torch 2.3"), text
    assert lines[4].startswith("Python 3.10."), text


# ----------------------------------------------------------------------------- report schema (docs/reports.md)
def documented(section: str) -> dict[str, str]:
    """``{key: when}`` of the table after ``<!-- schema: SECTION -->``."""
    text = DOC.read_text()
    marker = f"<!-- schema: {section} -->"
    assert text.count(marker) == 1, f"{DOC}: expected one '{marker}'"
    rows: dict[str, str] = {}
    for line in text.split(marker, 1)[1].lstrip("\n").splitlines():
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not cells[0].startswith("`"):
            continue  # header and separator rows
        key = cells[0].strip("`")
        assert key not in rows, f"{DOC}: {key} listed twice in '{section}'"
        rows[key] = cells[2]
    assert rows, f"{DOC}: no table after '{marker}'"
    return rows


def schema(*sections: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for s in sections:
        rows = documented(s)
        assert not set(rows) & set(out), f"{DOC}: keys listed in two sections: {set(rows) & set(out)}"
        out.update(rows)
    return out


def schema_problems(report: dict, rows: dict[str, str], active: set[str], exact_top: bool = True) -> list[str]:
    """Every key whose ``when`` is 'always...' or an active condition is
    there, no key of an inactive condition is, and (``exact_top``) no key is
    undocumented; the same for the documented children of objects and of
    the records of lists (their ``when`` is relative to the parent)."""

    def wanted(when: str) -> bool:
        return when.startswith("always") or when in active

    problems = []
    top = {k: w for k, w in rows.items() if "." not in k}
    for k, w in top.items():
        if wanted(w) and k not in report:
            problems.append(f"missing documented key '{k}' (when: {w})")
        if not wanted(w) and k in report:
            problems.append(f"key '{k}' present, documented only when: {w}")
    if exact_top:
        problems += [f"undocumented key '{k}': document it in {DOC.relative_to(REPO)}" for k in report if k not in top]
    children: dict[str, dict[str, str]] = {}
    for k, w in rows.items():
        if "." in k:
            parent, child = k.rsplit(".", 1)
            children.setdefault(parent, {})[child] = w
    for parent, kids in children.items():
        name = parent.removesuffix("[]")
        if name not in report:
            continue
        objs = report[name] if parent.endswith("[]") else [report[name]]
        for i, obj in enumerate(objs):
            where = f"{name}[{i}]" if parent.endswith("[]") else name
            want = {c for c, w in kids.items() if wanted(w)}
            if missing := want - set(obj):
                problems.append(f"{where}: missing documented keys {sorted(missing)}")
            if extra := set(obj) - set(kids):
                problems.append(f"{where}: undocumented keys {sorted(extra)}")
            if outside := (set(kids) - want) & set(obj):
                problems.append(f"{where}: keys {sorted(outside)} present outside their documented condition")
            if parent.endswith("[]") and i >= 2:
                break
    return problems


@pytest.fixture(scope="module")
def written_reports(tmp_path_factory):
    """Real JSON reports written the way the commands write them, on the
    shipped dense export and a few test samples: run (halt), evaluate
    (torch engine with sweeps; Lava engine), verify."""
    from lavacut.pipelines.evaluate import evaluate_export
    from lavacut.measure.reports import write_report
    from lavacut.pipelines.run import RunRequest, run_export
    from lavacut.pipelines.verify import verify_export
    from lavacut.util import atomic_write_json

    out = tmp_path_factory.mktemp("reports")
    export = REPO / "netx_exports" / "embedded_dense.net"
    rep, _, _ = run_export(RunRequest(export, samples=3), mode="halt", backend="cpu", progress=False)
    write_report(rep, out / "run.json", plots=False)
    rep = evaluate_export(RunRequest(export, samples=6), engine="torch", progress=False)
    write_report(rep, out / "evaluate_torch.json", plots=False)
    rep = evaluate_export(
        RunRequest(export, samples=3), engine="lava", mode="halt", backend="cpu", progress=False, with_sweeps=False
    )
    write_report(rep, out / "evaluate_lava.json", plots=False)
    atomic_write_json(out / "verify.json", verify_export(RunRequest(export, samples=3), progress=False).summary())
    return {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}


@pytest.mark.parametrize(
    "name, sections, active",
    [
        ("run", ("common", "run"), {"halt mode"}),
        (
            "evaluate_torch",
            ("common", "evaluate"),
            {
                "labelled",
                "torch engine",
                "labelled data set split (not `--input`), sweeps on",
                "with `sweeps`",
                "unless `--no-neurobench`",
            },
        ),
        (
            "evaluate_lava",
            ("common", "evaluate"),
            {"labelled", "lava engine", "lava engine, halt mode", "unless `--no-neurobench`"},
        ),
        ("verify", ("verify",), set()),
    ],
)
def test_reports_have_exactly_the_documented_keys(written_reports, name, sections, active):
    import lavacut
    from lavacut.pipelines.run import REPORT_SCHEMA_VERSION

    report = written_reports[name]
    rows = schema(*sections)
    for cond in active:
        assert cond in rows.values(), f"{DOC}: no key is documented for condition {cond!r}"
    assert not schema_problems(report, rows, active), "\n".join(schema_problems(report, rows, active))
    assert list(report)[:2] == ["schema_version", "lavacut_version"]
    assert report["schema_version"] == REPORT_SCHEMA_VERSION and report["lavacut_version"] == lavacut.__version__
    assert f"now **{REPORT_SCHEMA_VERSION}**" in DOC.read_text()


def test_calibration_in_the_export_has_the_documented_keys():
    """What `lavacut calibrate` stored in the shipped export."""
    from lavacut.export.validate import read_metadata

    meta = read_metadata(REPO / "netx_exports" / "embedded_dense.net")
    rows = schema("calibrate")
    problems = schema_problems(meta, rows, active=set(), exact_top=False)
    assert not problems, "\n".join(problems)


def test_schema_checker_catches_drift():
    """An undocumented key, a missing one and a wrong nested key are all caught."""
    rows = {"a": "always", "b": "torch engine", "c": "always", "c.x": "always", "l": "always", "l[].y": "always"}
    good = {"a": 1, "c": {"x": 1}, "l": [{"y": 1}]}
    assert schema_problems(good, rows, set()) == []
    assert schema_problems({**good, "b": 2}, rows, set())  # inactive condition
    assert schema_problems({**good, "z": 0}, rows, set())  # undocumented
    assert schema_problems({"c": {"x": 1}, "l": []}, rows, set())  # missing 'a'
    assert schema_problems({**good, "c": {"x": 1, "w": 2}}, rows, set())  # undocumented nested
    assert schema_problems({**good, "l": [{"q": 1}]}, rows, set())  # nested record


# ----------------------------------------------------------------------------- the wheel
def _source_copy(dest: Path) -> Path:
    """The repository as a fresh clone has it (no venv, build folders or
    outputs), so the build never writes into the working tree."""
    shutil.copytree(
        REPO,
        dest,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "build",
            "dist",
            "*.egg-info",
            "__pycache__",
            ".pytest_cache",
            "runs",
            "reports",
            "results",
            "tests",
        ),
    )
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """``pip wheel`` without build isolation (the environment's setuptools)."""
    base = tmp_path_factory.mktemp("wheel")
    src = _source_copy(base / "src")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(src),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(base / "dist"),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, f"pip wheel failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    wheels = list((base / "dist").glob("lavacut-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_carries_the_shipped_files_licence_and_metadata(wheel):
    import lavacut

    assert wheel.name == f"lavacut-{lavacut.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for kind, pattern in SHIPPED.items():
            files = sorted((REPO / kind).glob(pattern))
            assert files
            for f in files:  # the same bytes as the top-level folders, the one source
                inside = f"lavacut/_shipped/{kind}/{f.name}"
                assert inside in names, f"{inside} missing from the wheel"
                assert hashlib.sha256(z.read(inside)).digest() == hashlib.sha256(f.read_bytes()).digest()
        shipped = {n for n in names if n.startswith("lavacut/_shipped/")}
        assert len(shipped) == sum(len(list((REPO / k).glob(p))) for k, p in SHIPPED.items()), shipped
        dist_info = f"lavacut-{lavacut.__version__}.dist-info"
        assert z.read(f"{dist_info}/licenses/LICENSE") == (REPO / "LICENSE").read_bytes()
        meta = Parser().parsestr(z.read(f"{dist_info}/METADATA").decode())
        assert "lavacut = lavacut.cli:program" in z.read(f"{dist_info}/entry_points.txt").decode()
        assert "lavacut/__main__.py" in names
    assert meta["Version"] == lavacut.__version__
    assert meta["License-Expression"] == "BSD-3-Clause"
    assert any(c.startswith("Programming Language :: Python :: 3.10") for c in meta.get_all("Classifier"))
    assert meta.get_all("Project-URL")
    assert not (REPO / "lavacut" / "_shipped").exists()  # nothing copied into the source tree


def _listing(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_mtime_ns
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def _termination_summary(stdout: str) -> list[str]:
    """The termination summary of ``lavacut demo`` without its wall-clock
    line (timings differ between any two runs)."""
    lines = stdout.split("== 4. termination summary", 1)[1].strip().splitlines()
    return [ln for ln in lines if not ln.startswith(("wall-clock", "report:"))]


@pytest.mark.slow
def test_installed_wheel_runs_the_demo_from_an_empty_folder(wheel, tmp_path):
    """The wheel installed with ``pip install --no-deps --target`` (the
    dependencies are the project environment's), run from an empty folder
    with PYTHONPATH pointing at the install: lavacut comes from there, not
    from the clone; the outputs land in the folder, not in the install."""
    site = tmp_path / "site"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site), str(wheel), "-q"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    work = tmp_path / "empty"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONUNBUFFERED": "1"}
    script = site / "bin" / "lavacut"
    before = _listing(site)

    r = subprocess.run([str(script), "--version"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    _check_version_text(r.stdout, site / "lavacut")  # the installed package, not the clone
    r = subprocess.run(
        [sys.executable, "-m", "lavacut", "--version"], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0 and r.stdout.startswith(f"lavacut {_version()} ({site / 'lavacut'})"), r.stderr

    r = subprocess.run(
        [str(script), "demo", "--samples", DEMO_SAMPLES],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert r.returncode == 0, f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    wheel_demo = r.stdout
    assert f"the shipped export {site / 'lavacut' / '_shipped' / 'netx_exports' / 'embedded_dense.net'}" in r.stdout
    assert "report: reports/demo.json" in r.stdout
    report = json.loads((work / "reports" / "demo.json").read_text())
    assert report["n_samples"] == int(DEMO_SAMPLES) and report["lavacut_version"] == _version()
    assert sorted(p.name for p in work.rglob("*") if p.is_file()) == [
        "demo.json",
        "demo.samples.csv",
        "demo_tcutoff.png",
    ]
    assert _listing(site) == before, "the demo wrote into the installed package"

    # a shipped export by name, from the empty folder; calibrate refuses to write into the install
    r = subprocess.run(
        [str(script), "run", "embedded_dense", "--samples", "2", "--report", "r/run.json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0 and (work / "r" / "run.json").is_file(), r.stderr[-3000:]
    r = subprocess.run(
        [str(script), "calibrate", "embedded_dense"], cwd=work, env=env, capture_output=True, text=True, timeout=600
    )
    assert r.returncode != 0 and "inside the installed lavacut package" in r.stderr, r.stderr[-3000:]
    assert _listing(site) == before

    # the same command in the clone: the same termination summary
    clone = run_cli("demo", "--samples", DEMO_SAMPLES, "--report", tmp_path / "clone" / "demo.json")
    assert _termination_summary(wheel_demo) == _termination_summary(clone.stdout), (wheel_demo, clone.stdout)
    assert len(_termination_summary(wheel_demo)) >= 3  # samples/policy, accuracy, timesteps


def _version() -> str:
    import lavacut

    return lavacut.__version__
