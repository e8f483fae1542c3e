"""The render stage: run every report notebook with papermill and render HTML, PDF and CSV.

Each report is one papermill run of a parameterised notebook (``notebooks/<kind>.ipynb``). The
notebook reads the de-identified results, fills a :class:`~analysis.reports.report.Report` and saves it;
this module renders the saved document (HTML + tagged PDF + CSV), keeps the executed notebook as
the run's audit record, and writes the site index, the methodology page and the manifest.

Speed without losing the papermill record: the notebooks run on two worker processes, each with
one long-lived Jupyter kernel that papermill re-uses (``km=``) for every report it runs, so kernel
start-up and library imports are paid twice per build rather than once per report. Each finished
report is cached under ``data/.../.render-cache`` by the hash of everything it depends on; a re-run
after an interruption renders only what is missing or changed.

The whole ``reports/`` folder is built in a staging folder and swapped in at the end, so a build
killed while rendering leaves the previous reports intact.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from analysis.config import NOTEBOOKS_DIR, Config, project_root
from analysis.io import atomic_dir, hash_tree, sha256_file, write_json
from analysis.manifest import STAGE_CODE, code_digest
from analysis.stages import StageResult

log = logging.getLogger(__name__)

NOTEBOOKS = NOTEBOOKS_DIR
SECTORS = ("oacas", "ancfsao")  # the associations of societies that get a sector report
REPORT_NOTEBOOKS = ("ministry", "board", "society", "sector", "youth")
KERNEL = "python3"


@dataclass(frozen=True)
class Job:
    """One report: which notebook, with which parameters, written under which file stem."""

    kind: str
    slug: str
    params: dict[str, Any]

    @property
    def notebook(self) -> Path:
        return NOTEBOOKS / f"{self.kind}.ipynb"


def _reference(cfg: Config, name: str) -> pl.DataFrame:
    # Reference tables are not identifying; de-identification copies them into analytic/.
    p = cfg.paths.analytic / f"{name}.parquet"
    if not p.is_file():
        raise FileNotFoundError(f"{p}: reference table not found (run `analysis deidentify` first)")
    return pl.read_parquet(p)


def report_jobs(cfg: Config, *, kinds: Sequence[str] = REPORT_NOTEBOOKS) -> list[Job]:
    """Every report of a build: ministry, youth and the two sector reports (OACAS, ANCFSAO) in each
    language, one per board (in the board's language) and one per society (in the society's
    language)."""
    common = {
        "scale": cfg.scale,
        "seed": cfg.seed,
        "data_dir": str(cfg.paths.data_dir),
        "school_year": cfg.school_years[-1],
    }
    jobs: list[Job] = []
    langs = list(cfg.reports.languages)
    if "ministry" in kinds:
        jobs += [Job("ministry", f"ministry-{lang}", {**common, "lang": lang}) for lang in langs]
    if "youth" in kinds:
        jobs += [Job("youth", f"youth-{lang}", {**common, "lang": lang}) for lang in langs]
    if "sector" in kinds:
        jobs += [
            Job("sector", f"sector-{a}-{lang}", {**common, "lang": lang, "association": a})
            for a in SECTORS
            for lang in langs
        ]
    if "board" in kinds:
        boards = _reference(cfg, "boards").sort("board_id")
        for bid, lang in zip(boards["board_id"], boards["language"], strict=True):
            lang = lang if lang in langs else langs[0]
            jobs.append(
                Job(
                    "board",
                    f"board-{bid.lower()}-{lang}",
                    {**common, "lang": lang, "board_id": bid},
                )
            )
    if "society" in kinds:
        socs = _reference(cfg, "societies").sort("society_id")
        for sid, lang in zip(socs["society_id"], socs["language"], strict=True):
            lang = lang if lang in langs else langs[0]
            jobs.append(
                Job(
                    "society",
                    f"society-{sid.lower()}-{lang}",
                    {**common, "lang": lang, "society_id": sid},
                )
            )
    return jobs


def inputs_digest(cfg: Config) -> str:
    """Hash of what every report depends on: results, analytic data, the render code, configuration."""
    h = hashlib.sha256()
    for root in (cfg.paths.results, cfg.paths.analytic):
        for rel, d in hash_tree(root).items():
            h.update(f"{root.name}/{rel}:{d}\n".encode())
    h.update(code_digest(STAGE_CODE["render"]).encode())
    h.update(cfg.fingerprint().encode())
    return h.hexdigest()


def job_key(job: Job, inputs_digest: str) -> str:
    h = hashlib.sha256()
    h.update(sha256_file(job.notebook).encode())
    h.update(json.dumps(job.params, sort_keys=True).encode())
    h.update(inputs_digest.encode())
    return h.hexdigest()[:32]


# ---------------------------------------------------------------- execution (worker processes)
_KM: Any = None


def _kernel() -> Any:
    """This worker's long-lived kernel (started on first use)."""
    global _KM
    if _KM is None:
        import atexit
        import multiprocessing.util
        import tempfile

        from jupyter_client.manager import KernelManager

        # Local sockets (IPC) rather than TCP on localhost: nothing listens on a port, and the
        # kernel has no reason to warn about unencrypted network traffic.
        sockets = tempfile.mkdtemp(prefix="analysis-kernel-")
        _KM = KernelManager(kernel_name=KERNEL, transport="ipc", ip=os.path.join(sockets, "k"))
        _KM.start_kernel(cwd=str(project_root()))
        # Worker processes leave through multiprocessing's exit path, which runs its finalizers
        # but not ``atexit``; register both so the kernel is shut down, not orphaned.
        multiprocessing.util.Finalize(None, _shutdown_kernel, args=(sockets,), exitpriority=10)
        atexit.register(_shutdown_kernel, sockets)
    return _KM


_KC: Any = None


def _client(km: Any) -> Any:
    """This worker's kernel client: started and waited for once, then shared by every report.

    A new client per report (what papermill does on its own) pays ``wait_for_ready``, which
    drains the output channel for 0.2 s every time. A client that stays connected sees the
    output of earlier reports on that channel, but nbclient only reads messages that answer its
    own requests.
    """
    global _KC
    if _KC is None:
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=120)  # a kernel just started may not be listening yet
        kc.allow_stdin = False
        _KC = kc
    return _KC


# Clears the namespace (``%reset -f``), then moves what survives (modules, their caches) out of
# the collector's sight with ``gc.freeze``: otherwise every reset's two full collections walk
# every object of polars, altair and pandas again (0.15 s per report).
_RESET = "%reset -f\nimport gc as _gc\n_gc.freeze()\ndel _gc\n"


def _reset_namespace(km: Any) -> None:
    """Clear the kernel's namespace before the next report (waits for the kernel's reply)."""
    kc = _client(km)
    msg_id = kc.execute(_RESET, silent=True, store_history=False)
    while True:
        reply = kc.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    if reply["content"].get("status") != "ok":
        raise RuntimeError("the report kernel could not reset its namespace")


def _shared_engine() -> str:
    """Register (once) and name the papermill engine that runs notebooks on :func:`_client`."""
    from nbclient.util import run_hook, run_sync
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.utils import merge_kwargs, remove_args

    name = "analysis-shared-kernel"
    if name in papermill_engines._engines:
        return name

    class SharedClient(PapermillNotebookClient):
        def start_new_kernel_client(self) -> Any:
            self.kc = _client(self.km)
            run_sync(run_hook)(self.on_notebook_start, notebook=self.nb)
            return self.kc

    class SharedKernelEngine(NBClientEngine):
        # papermill's NBClientEngine.execute_managed_notebook with the client class swapped.
        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man: Any,
            kernel_name: str,
            log_output: bool = False,
            stdout_file: Any = None,
            stderr_file: Any = None,
            start_timeout: int = 60,
            execution_timeout: int | None = None,
            **kwargs: Any,
        ) -> Any:
            kwargs = remove_args(["input_path"], **kwargs)
            safe = remove_args(["timeout", "startup_timeout"], **kwargs)
            final = merge_kwargs(
                safe,
                timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logging.getLogger("papermill"),
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
            )
            return SharedClient(nb_man, **final).execute()

    papermill_engines.register(name, SharedKernelEngine)
    return name


def _shutdown_kernel(sockets: str) -> None:
    global _KM, _KC
    if _KC is not None:
        _KC.stop_channels()
        _KC = None
    if _KM is not None:
        _KM.shutdown_kernel(now=True)
        _KM = None
    shutil.rmtree(sockets, ignore_errors=True)


def execute_notebook(job: Job, out_nb: Path, docs_dir: Path, *, shared_kernel: bool = True) -> Path:
    """Run ``job``'s notebook with papermill; return the saved report document (JSON)."""
    import papermill as pm

    params = {**job.params, "out_dir": str(docs_dir), "slug": job.slug}
    kwargs: dict[str, Any] = {}
    if shared_kernel:
        km = _kernel()
        # A clean namespace for every report: state never leaks from one report to the next.
        _reset_namespace(km)
        kwargs["km"] = km
        kwargs["engine_name"] = _shared_engine()
    out_nb.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(
        str(job.notebook),
        str(out_nb),
        parameters=params,
        kernel_name=KERNEL,
        progress_bar=False,
        cwd=str(project_root()),
        log_output=False,
        **kwargs,
    )
    doc = docs_dir / f"{job.slug}.json"
    if not doc.exists():
        raise RuntimeError(
            f"{job.notebook.name} ({job.slug}): the notebook did not save its report"
        )
    return doc


def _strip_volatile(nb_path: Path, staging: Path, final: Path) -> None:
    """Executed notebooks are build products: drop what changes between identical runs.

    Timings go; execution counts are renumbered from 1 (the shared kernel keeps counting across
    reports); papermill's parameters cell gets a fixed id, and the staging folder it names (a
    random suffix) becomes the folder the report is kept in.
    """
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    nb.metadata.pop("papermill", None)
    count = 0
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.id = "injected-parameters"
        if cell.cell_type == "code":
            if cell.get("execution_count") is not None:
                count += 1
                cell.execution_count = count
            for out in cell.get("outputs", []):
                if "execution_count" in out:
                    out["execution_count"] = cell.execution_count
    text = nbformat.writes(nb).replace(json.dumps(str(staging))[1:-1], json.dumps(str(final))[1:-1])
    nb_path.write_text(text + "\n", encoding="utf-8")


def run_job(job: Job, cache_dir: Path, key: str, shared_kernel: bool = True) -> dict[str, Any]:
    """Execute and render one report into ``cache_dir/<key>/`` (atomically); return its entry."""
    from analysis.reports.render import render_report

    target = cache_dir / key
    if not (target / "entry.json").exists():
        with atomic_dir(target, record=False) as tmp:  # the build's private cache
            doc = execute_notebook(
                job,
                tmp / "notebooks" / f"{job.slug}.ipynb",
                tmp / "_docs",
                shared_kernel=shared_kernel,
            )
            _strip_volatile(tmp / "notebooks" / f"{job.slug}.ipynb", tmp, target)
            rendered = render_report(doc, tmp, pdf=True, home_href="index.html")
            entry = {
                "slug": rendered.slug,
                "kind": rendered.kind,
                "audience": rendered.audience,
                "lang": rendered.lang,
                "title": rendered.title,
                "html": rendered.html.name,
                "pdf": rendered.pdf.name if rendered.pdf else None,
                "data_files": rendered.data_files,
                "params": job.params,
            }
            write_json(entry, tmp / "entry.json")
    return json.loads((target / "entry.json").read_text())


def _run_job_star(args: tuple[Job, Path, str, bool]) -> dict[str, Any]:
    return run_job(*args)


def run_jobs(
    jobs: Sequence[Job],
    cache_dir: Path,
    keys: Sequence[str],
    *,
    workers: int = 2,
    shared_kernel: bool = True,
) -> Iterator[dict[str, Any]]:
    """Run ``jobs`` on ``workers`` processes; yield each entry as it completes (in job order)."""
    todo = [(j, cache_dir, k, shared_kernel) for j, k in zip(jobs, keys, strict=True)]
    if workers <= 1:
        for t in todo:
            yield _run_job_star(t)
        return
    import multiprocessing as mp

    # forkserver: workers must not inherit the parent's threads (polars, zmq).
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("forkserver")) as ex:
        yield from ex.map(_run_job_star, todo, chunksize=1)


# ---------------------------------------------------------------- the stage
def _copy_report(src: Path, dst: Path) -> None:
    for p in src.rglob("*"):
        if p.is_file() and p.name != "entry.json" and "_docs" not in p.parts:
            out = dst / p.relative_to(src)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, out)


def run(
    cfg: Config,
    *,
    workers: int | None = None,
    kinds: Sequence[str] = REPORT_NOTEBOOKS,
    progress: Any = None,
) -> StageResult:
    """Render every report, the methodology page, the site index and the manifest."""
    from analysis import manifest
    from analysis.reports import audit, opendata, site
    from analysis.reports.render import RenderedReport, render_site
    from analysis.reports.report import PROVENANCE_DIR
    from analysis.reports.sections import open_data_rows

    jobs = report_jobs(cfg, kinds=kinds)
    if cfg.reports.only:
        jobs = [j for j in jobs if j.slug in set(cfg.reports.only)]
    digest = inputs_digest(cfg)
    keys = [job_key(j, digest) for j in jobs]
    cache = cfg.paths.data_dir / ".render-cache"
    cache.mkdir(parents=True, exist_ok=True)
    n_workers = workers or cfg.reports.workers or min(2, os.cpu_count() or 1)
    cached = sum((cache / k / "entry.json").exists() for k in keys)
    result = StageResult(stage="render")
    entries: list[dict[str, Any]] = []
    for entry in run_jobs(jobs, cache, keys, workers=n_workers):
        entries.append(entry)
        if progress is not None:
            progress(len(entries), len(jobs))
    # what the build wrote in the reports folder is recorded beside its data (a user's files
    # there are kept: analysis.io.atomic_dir)
    record = cfg.paths.data_dir / ".state" / "files" / "reports.json"
    with atomic_dir(cfg.paths.reports_dir, record=record) as tmp:
        rendered = []
        for key, entry in zip(keys, entries, strict=True):
            _copy_report(cache / key, tmp)
            rendered.append(
                RenderedReport(  # paths inside the staging folder
                    slug=entry["slug"],
                    kind=entry["kind"],
                    audience=entry["audience"],
                    lang=entry["lang"],
                    title=entry["title"],
                    html=tmp / entry["html"],
                    pdf=tmp / entry["pdf"] if entry["pdf"] else None,
                    data_files=entry["data_files"],
                )
            )
        meths = {lang: site.methodology(cfg, lang) for lang in cfg.reports.languages}
        # the open data from the same protected tables, screened (a failure keeps the old
        # reports), then its catalogue and table tool
        published = opendata.publish(cfg, tmp)
        screening = published.screening
        # The audit of everything a reader will hold (every table each report and the
        # methodology page print, and the open data), before anything is published: an exposed
        # value fails the build and the staging folder is discarded, so the previous reports
        # stay.
        docs = [cache / k / "_docs" for k in keys]
        files = audit.printed_files(docs)
        provenance = audit.read_provenance(
            p
            for d, e in zip(docs, entries, strict=True)
            if (p := d / PROVENANCE_DIR / f"{e['slug']}.json").exists()
        )
        for m in meths.values():
            files.update(m.csv_files())
            provenance.update(m.provenance)
        printed = dict(files)  # the reports' tables, kept for `analysis audit`
        files.update(published.files)
        provenance.update(published.provenance)
        report = audit.run(cfg, files, provenance, engines=cfg.privacy.audit_engines)
        audit.save(cfg, report, provenance, printed)
        audit.gate(report)
        rows = open_data_rows(cfg)
        for lang, meth in meths.items():
            site.audit_section(meth, report["summary"], cfg)
            meth.attach_data_files(rows)
            render_site(tmp, rendered, meth, lang=lang, data_links=opendata.site_links(lang))
        shutil.rmtree(tmp / "_docs", ignore_errors=True)  # intermediate documents, not published
        bench = cfg.paths.reports_dir / "bench"
        if bench.is_dir():  # benchmark records outlive a rebuild of the reports
            shutil.copytree(bench, tmp / "bench")
        manifest.write(cfg, tmp, entries, audit=report["summary"])
    # Keep the cache small: only what this build used.
    for d in cache.iterdir():
        if d.is_dir() and d.name not in set(keys):
            shutil.rmtree(d, ignore_errors=True)
    result.outputs = [cfg.paths.reports_dir]
    result.rows["reports"] = len(jobs)
    result.metrics.update(
        {
            "audit": report["summary"],
            "reports": len(jobs),
            "rendered_now": len(jobs) - cached,
            "from_cache": cached,
            "workers": n_workers,
            "open_data_files": len(screening.files()),
            "open_data_warnings": len(screening.warnings),
        }
    )
    return result
