"""Benchmark the build: wall time, CPU time and peak memory of every stage.

Each stage runs in a fresh child process (``python -m analysis.bench _stage ...``) so that its
numbers are its own: nothing imported or allocated by an earlier stage counts against it.

What is measured, per stage:

``wall_s``
    Elapsed time from starting the child process to its exit (includes Python start-up and the
    stage's imports, which an analyst re-running the stage also pays).
``cpu_s``
    User + system CPU time of the child *and every process it started* (render's worker processes
    and their Jupyter kernels, reaped through multiprocessing's fork server, which the child stops
    at its end), from ``getrusage(RUSAGE_CHILDREN)`` deltas in this process.
``peak_mib``
    Peak resident memory of the largest single process the stage started: the maximum of the
    child's own ``ru_maxrss``, its ``RUSAGE_CHILDREN`` ``ru_maxrss`` (the largest descendant it
    reaped) and a 0.1 s sampling of the whole process tree with psutil (which also catches
    descendants that are never reaped, such as kernels left to ``atexit``).
``tree_peak_mib``
    Peak of the summed resident memory of the whole process tree (sampled): what the stage needs
    from the machine at once.

The ``disclosure`` line is the part of ``analyse`` spent inside :mod:`analysis.disclosure`
(every function and method of the module is wrapped with a timer in the analyse child; nested
calls are counted once). It is part of ``analyse``, not added to the totals.

The naive comparison renders the same ``N`` reports twice through
:func:`analysis.reports.build.run_job`: the naive way (one report at a time, each with its own
fresh papermill kernel) and the fast way (two workers with shared kernels), into throw-away cache
folders, and reports the seconds per report and the ratio.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from analysis.config import Config

MIB = 1024.0  # ru_maxrss is KiB on Linux
DATA_STAGES = ("generate", "validate", "link", "deidentify", "analyse")


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class _TreeSampler:
    """Samples the resident memory of a process and all its descendants."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_single = 0
        self.peak_tree = 0
        self.max_procs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                break
            total = 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                self.peak_single = max(self.peak_single, rss)
            self.peak_tree = max(self.peak_tree, total)
            self.max_procs = max(self.max_procs, len(procs))
            self._stop.wait(self.interval)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def measure_stage(cfg: Config, name: str) -> dict[str, Any]:
    """Run one pipeline stage (forced) in a fresh child process and measure it.

    Returns
    -------
    dict
        ``stage``, ``wall_s``, ``cpu_s``, ``peak_mib``, ``tree_peak_mib``, ``processes`` (most
        processes seen at once), ``rows`` and ``metrics`` (the stage's own), and for ``analyse``
        ``disclosure`` (seconds and CPU seconds inside :mod:`analysis.disclosure`).
    """
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        cfg_file = Path(tmp) / "config.json"
        out_file = Path(tmp) / "result.json"
        cfg_file.write_text(cfg.to_json(), encoding="utf-8")
        cmd = [sys.executable, "-m", "analysis.bench", "_stage", str(cfg_file), name, str(out_file)]
        cpu0 = _cpu_children()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, env=_child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        with _TreeSampler(proc.pid) as sampler:
            _, err = proc.communicate()
        wall = time.perf_counter() - t0
        cpu = _cpu_children() - cpu0
        if proc.returncode != 0:
            tail = err.decode("utf-8", "replace").strip().splitlines()[-15:]
            raise RuntimeError(
                f"bench: stage {name} failed (exit {proc.returncode}):\n" + "\n".join(tail)
            )
        child = json.loads(out_file.read_text(encoding="utf-8"))
    peak_kib = max(
        child["self_maxrss_kib"], child["children_maxrss_kib"], sampler.peak_single / 1024
    )
    row: dict[str, Any] = {
        "stage": name,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_mib": round(peak_kib / MIB, 1),
        "tree_peak_mib": round(max(sampler.peak_tree / 2**20, peak_kib / MIB), 1),
        "processes": max(sampler.max_procs, 1),
        "stage_s": round(child["stage_s"], 2),
        "rows": child["rows"],
        "metrics": child["metrics"],
    }
    if "disclosure" in child:
        row["disclosure"] = child["disclosure"]
    return row


# ------------------------------------------------------------------ child side
class _Timer:
    """Accumulates wall and CPU time of the outermost calls into wrapped functions."""

    def __init__(self) -> None:
        self.depth = 0
        self.wall = 0.0
        self.cpu = 0.0
        self.calls = 0

    def wrap(self, fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self.depth:
                return fn(*args, **kwargs)
            self.depth += 1
            self.calls += 1
            w0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.wall += time.perf_counter() - w0
                self.cpu += time.process_time() - c0
                self.depth -= 1

        return wrapper


def _instrument_disclosure() -> _Timer:
    """Wrap every function and method defined in the :mod:`analysis.disclosure` package (each of
    its modules) with one timer."""
    import importlib
    import pkgutil

    from analysis import disclosure

    timer = _Timer()
    modules = [disclosure] + [
        importlib.import_module(f"{disclosure.__name__}.{m.name}")
        for m in pkgutil.iter_modules(disclosure.__path__)
    ]
    for mod in modules:
        for attr, obj in list(vars(mod).items()):
            if inspect.isfunction(obj) and obj.__module__ == mod.__name__:
                setattr(mod, attr, timer.wrap(obj))
            elif inspect.isclass(obj) and obj.__module__ == mod.__name__:
                for m_name, m in list(vars(obj).items()):
                    if inspect.isfunction(m) and not m_name.startswith("__"):
                        setattr(obj, m_name, timer.wrap(m))
    return timer


def _child_main(cfg_file: str, name: str, out_file: str) -> None:
    from analysis.pipeline import run_stage

    cfg = Config.model_validate_json(Path(cfg_file).read_text(encoding="utf-8"))
    timer = _instrument_disclosure() if name == "analyse" else None
    t0 = time.perf_counter()
    result = run_stage(cfg, name, force=True)
    stage_s = time.perf_counter() - t0
    # render's worker processes are children of multiprocessing's fork server, which reaps them
    # (and they their kernels): stopping it reaps it here, so their CPU time counts in cpu_s.
    from multiprocessing import forkserver

    stop = getattr(forkserver._forkserver, "_stop", None)
    if stop is not None:
        stop()
    out: dict[str, Any] = {
        "stage_s": stage_s,
        "rows": result.rows,
        "metrics": json.loads(json.dumps(result.metrics, default=str)),
        "self_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "children_maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }
    if timer is not None:
        out["disclosure"] = {
            "wall_s": round(timer.wall, 3),
            "cpu_s": round(timer.cpu, 3),
            "calls": timer.calls,
        }
    Path(out_file).write_text(json.dumps(out), encoding="utf-8")


# ------------------------------------------------------------------ naive vs fast rendering
def _naive_child(cfg_file: str, n: str, out_file: str) -> None:
    """Render ``n`` reports the naive way and the fast way (in this child process)."""
    from analysis.reports import build as br
    from analysis.reports.charts import _svg_of_spec

    cfg = Config.model_validate_json(Path(cfg_file).read_text(encoding="utf-8"))
    every = br.report_jobs(cfg)
    # An even sample of the build's reports (kinds in the proportions the build has them), so the
    # naive per-report time compares with the render stage's average report.
    step = max(1, len(every) // max(1, int(n)))
    jobs = every[::step][: int(n)]
    digest = br.inputs_digest(cfg)
    out: dict[str, Any] = {"reports": len(jobs), "slugs": [j.slug for j in jobs]}
    for label, workers, shared in (
        ("naive", 1, False),
        ("fast", min(2, os.cpu_count() or 1), True),
    ):
        with tempfile.TemporaryDirectory(prefix=f"bench-{label}-") as cache:
            # A distinct key per mode: nothing is served from the build's render cache.
            keys = [br.job_key(j, digest + label) for j in jobs]
            t0 = time.perf_counter()
            if shared:
                list(br.run_jobs(jobs, Path(cache), keys, workers=workers, shared_kernel=True))
            else:  # each report on its own: its own kernel, and nothing drawn for another
                for job, key in zip(jobs, keys, strict=True):
                    _svg_of_spec.cache_clear()
                    br.run_job(job, Path(cache), key, shared_kernel=False)
            out[f"{label}_s"] = time.perf_counter() - t0
    Path(out_file).write_text(json.dumps(out), encoding="utf-8")


def naive_comparison(cfg: Config, n: int) -> dict[str, Any]:
    """The same ``n`` reports rendered the naive way and the fast way; seconds and ratio.

    The fast way pays kernel start-up once per worker, so its per-report figure improves with
    ``n``; the full render stage's per-report time (``render.wall_s / reports``) is the figure
    that matters for the floor and is added by :func:`run_bench`.
    """
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        cfg_file = Path(tmp) / "config.json"
        out_file = Path(tmp) / "result.json"
        cfg_file.write_text(cfg.to_json(), encoding="utf-8")
        cmd = [
            sys.executable,
            "-m",
            "analysis.bench",
            "_naive",
            str(cfg_file),
            str(n),
            str(out_file),
        ]
        proc = subprocess.run(
            cmd, env=_child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
        )
        if proc.returncode != 0:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-15:]
            raise RuntimeError("bench: naive comparison failed:\n" + "\n".join(tail))
        res = json.loads(out_file.read_text(encoding="utf-8"))
    k = max(res["reports"], 1)
    return {
        "reports": res["reports"],
        "naive_s": round(res["naive_s"], 2),
        "fast_s": round(res["fast_s"], 2),
        "naive_s_per_report": round(res["naive_s"] / k, 2),
        "fast_s_per_report": round(res["fast_s"] / k, 2),
        "ratio": round(res["naive_s"] / max(res["fast_s"], 1e-9), 2),
    }


# ------------------------------------------------------------------ the benchmark
def analyst_loop(cfg: Config, board_id: str = "B01", repeats: int = 3) -> dict[str, Any]:
    """The analyst's loop: re-running one board notebook in a kernel that is already running
    (as in JupyterLab after the first run), against the analytic dataset and results.

    Returns the first run (kernel start-up and imports included) and the median of the re-runs.
    """
    import statistics

    from analysis.reports.build import Job, execute_notebook

    job = Job(
        "board",
        f"board-{board_id.lower()}-en",
        {
            "lang": "en",
            "board_id": board_id,
            "scale": cfg.scale,
            "seed": cfg.seed,
            "data_dir": str(cfg.paths.data_dir),
            "school_year": cfg.school_years[-1],
        },
    )
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(repeats + 1):
            t0 = time.perf_counter()
            execute_notebook(
                job, Path(tmp) / f"run{k}.ipynb", Path(tmp) / "docs", shared_kernel=True
            )
            times.append(time.perf_counter() - t0)
    return {
        "notebook": "board",
        "first_run_s": round(times[0], 2),
        "rerun_median_s": round(statistics.median(times[1:]), 2),
        "reruns": [round(t, 2) for t in times[1:]],
    }


# The floors of the provincial build on the reference machine (2 cores, 24 GiB).
FLOORS: dict[str, tuple[str, float, str]] = {
    # name: (what, limit, direction)
    "end_to_end_s": ("every stage, every report in HTML and PDF (s)", 600.0, "max"),
    "peak_mib": ("peak memory of any process (MiB)", 4096.0, "max"),
    "link_s": ("linkage (s)", 60.0, "max"),
    "link_f1": ("linkage F1 against the truth", 0.995, "min"),
    "render_s": ("rendering every report (s)", 240.0, "max"),
    "render_speedup": ("naive per-report time / render stage per-report time", 5.0, "min"),
    "analyst_loop_s": ("re-running one board notebook in a running kernel (s)", 3.0, "max"),
}


def check_floors(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Compare a benchmark result with :data:`FLOORS`; one row per floor that could be measured.

    The floors are the provincial build's; at other scales the rows are informative only.
    """
    by = {r["stage"]: r for r in res["stages"]}
    measured: dict[str, float | None] = {
        "end_to_end_s": res["total"]["wall_s"] if "render" in by else None,
        "peak_mib": res["total"]["peak_mib"],
        "link_s": by["link"]["wall_s"] if "link" in by else None,
        "link_f1": (by["link"]["metrics"].get("f1") if "link" in by else None),
        "render_s": by["render"]["wall_s"] if "render" in by else None,
        "render_speedup": res.get("naive", {}).get("ratio_vs_render_stage"),
        "analyst_loop_s": res.get("analyst_loop", {}).get("rerun_median_s"),
    }
    rows = []
    for key, (what, limit, direction) in FLOORS.items():
        value = measured[key]
        if value is None:
            continue
        ok = value <= limit if direction == "max" else value >= limit
        rows.append(
            {
                "floor": key,
                "what": what,
                "value": value,
                "limit": limit,
                "direction": direction,
                "met": bool(ok),
            }
        )
    return rows


def _median_rows(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from repeated measurements of a stage: the median of each figure, and every run."""
    import statistics

    row = dict(runs[-1])
    for key in ("wall_s", "cpu_s", "peak_mib", "tree_peak_mib", "stage_s"):
        if key in row:
            row[key] = round(statistics.median(r[key] for r in runs), 2)
    if len(runs) > 1:
        row["runs"] = [{k: r[k] for k in ("wall_s", "cpu_s", "peak_mib")} for r in runs]
    return row


def run_bench(
    cfg: Config,
    naive_reports: int = 6,
    *,
    stages: tuple[str, ...] | None = None,
    repeats: int = 1,
) -> dict[str, Any]:
    """Run the build at ``cfg.scale`` stage by stage, each in a fresh process, and measure it.

    Parameters
    ----------
    cfg
        The configuration (its ``paths`` say where data and reports go).
    naive_reports
        Reports to render both the naive way and the fast way for the speed-up ratio (0 = skip).
    stages
        Stages to run (default: every stage of :mod:`analysis.pipeline` for this configuration).
    repeats
        Runs of each stage (each forced, in a fresh process); the table shows the medians and
        the JSON keeps every run. Use 3 on a shared machine when a figure is near its floor.

    Returns
    -------
    dict
        ``scale``, ``stages`` (one row per stage plus a ``disclosure`` row that is part of
        ``analyse``), ``total`` (``wall_s``, ``cpu_s`` summed; ``peak_mib`` the largest),
        ``naive`` (the rendering comparison, when asked for) and ``machine``. Also written to
        ``<reports_dir>/bench/<scale>.json``.
    """
    from analysis.pipeline import stages_for

    names = stages if stages is not None else stages_for(cfg)
    rows: list[dict[str, Any]] = []
    for name in names:
        row = _median_rows([measure_stage(cfg, name) for _ in range(max(1, repeats))])
        rows.append(row)
        if name == "analyse" and "disclosure" in row:
            d = row["disclosure"]
            rows.append(
                {
                    "stage": "disclosure",
                    "wall_s": d["wall_s"],
                    "cpu_s": d["cpu_s"],
                    "peak_mib": row["peak_mib"],
                    "part_of": "analyse",
                    "note": "time inside analysis.disclosure during analyse (not added to the total)",
                }
            )
    counted = [r for r in rows if "part_of" not in r]
    total = {
        "wall_s": round(sum(r["wall_s"] for r in counted), 2),
        "cpu_s": round(sum(r["cpu_s"] for r in counted), 2),
        "peak_mib": max((r["peak_mib"] for r in counted), default=0.0),
        "tree_peak_mib": max((r.get("tree_peak_mib", 0.0) for r in counted), default=0.0),
    }
    res: dict[str, Any] = {
        "scale": cfg.scale,
        "seed": cfg.seed,
        "repeats": max(1, repeats),
        "stages": rows,
        "total": total,
    }
    render = next((r for r in rows if r["stage"] == "render"), None)
    if render is not None and render["rows"].get("reports"):
        res["render_s_per_report"] = round(render["wall_s"] / render["rows"]["reports"], 2)
    if naive_reports > 0 and "render" in names:
        res["naive"] = naive_comparison(cfg, naive_reports)
    if "render" in names:
        res["analyst_loop"] = analyst_loop(cfg)
        if "render_s_per_report" in res and "naive" in res:
            res["naive"]["ratio_vs_render_stage"] = round(
                res["naive"]["naive_s_per_report"] / max(res["render_s_per_report"], 1e-9), 2
            )
    res["floors"] = check_floors(res)
    import platform

    res["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    out = cfg.paths.reports_dir / "bench" / f"{cfg.scale}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    res["json"] = str(out)
    return res


if __name__ == "__main__":  # the child side of measure_stage / naive_comparison
    if len(sys.argv) == 5 and sys.argv[1] == "_stage":
        _child_main(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 5 and sys.argv[1] == "_naive":
        _naive_child(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit("usage: python -m analysis.bench _stage CONFIG_JSON STAGE OUT_JSON")
