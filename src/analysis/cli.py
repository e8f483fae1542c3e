"""Command-line interface: one command per stage, and ``build`` for all of them in order.

Every command takes ``--scale``, ``--seed`` and ``--config``. Bad input exits with status 2 and a
message naming the file, column, rule and row count (never an identifier's value).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from analysis.config import Config, load_config

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Synthetic Ontario child-welfare + education linkage, analysis and reports.",
)
console = Console(stderr=True)

ScaleOpt = Annotated[str | None, typer.Option("--scale", help="tiny, small or province")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Random seed (default from config)")]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="YAML file overriding config/default.yaml")
]
DataOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Where data lives (default data/synthetic)")
]
ReportsOpt = Annotated[
    Path | None, typer.Option("--reports-dir", help="Where reports go (default reports)")
]
SourcesOpt = Annotated[
    Path | None,
    typer.Option("--sources", help="Your own extract (CSV or parquet) instead of synthetic data"),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Re-run even if inputs are unchanged")]
EngineOpt = Annotated[
    str | None, typer.Option("--engine", help="Linkage engine: duckdb (default) or spark")
]


def _abs(p: Path | None) -> Path | None:
    return None if p is None else p.resolve()  # command-line paths are relative to the cwd


def _cfg(
    config: Path | None,
    scale: str | None,
    seed: int | None,
    data_dir: Path | None = None,
    reports_dir: Path | None = None,
    sources: Path | None = None,
    engine: str | None = None,
) -> Config:
    if scale is not None and scale not in ("tiny", "small", "province"):
        _fail(f"--scale: '{scale}' is not one of tiny, small, province")
    if engine is not None and engine not in ("duckdb", "spark"):
        _fail(f"--engine: '{engine}' is not one of duckdb, spark")
    if sources is not None and not sources.is_dir():
        _fail(f"{sources}: --sources must be a folder holding the source files")
    try:
        cfg = load_config(
            config,
            scale=scale,
            seed=seed,
            data_dir=_abs(data_dir),
            reports_dir=_abs(reports_dir),
            incoming=_abs(sources),
            engine=engine,
        )
    except ValueError as exc:
        _fail(str(exc))
        raise  # unreachable
    problem = cfg.paths.incoming_problem()  # an extract inside a folder the build replaces
    if problem is not None:
        _fail(problem)
    return cfg


def _fail(message: str, code: int = 2) -> None:
    from rich.markup import escape

    console.print(
        f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True
    )
    raise typer.Exit(code)


def _run(cfg: Config, stages: tuple[str, ...], force: bool) -> None:
    from analysis.domain.schemas import SourceValidationError
    from analysis.pipeline import build

    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(f"{stages[0]}", total=len(stages))

        def on_stage(name: str, result, seconds: float) -> None:
            state = "unchanged, skipped" if result.skipped else f"{seconds:.1f} s"
            progress.console.print(f"  [green]✓[/] {name}: {state}")
            progress.advance(task)
            nxt = stages.index(name) + 1
            if nxt < len(stages):
                progress.update(task, description=stages[nxt])

        reports_task = None

        def on_report(done: int, total: int) -> None:
            nonlocal reports_task
            if reports_task is None:
                reports_task = progress.add_task("reports", total=total)
            progress.update(reports_task, completed=done)

        try:
            build(cfg, stages=stages, force=force, on_stage=on_stage, progress=on_report)
        except (SourceValidationError, ValueError) as exc:
            # Validation, de-identification (missing or short key) and disclosure errors are the
            # user's to fix: a clear message and exit 2, never a traceback with local values.
            progress.stop()
            _fail(str(exc))
        except FileNotFoundError as exc:
            progress.stop()
            _fail(
                f"{exc.filename or exc}: not found (run the earlier stages first, or `analysis build`)"
            )
        except OSError as exc:  # a folder that cannot be written, a disk full: no traceback
            progress.stop()
            _fail(f"{exc.filename or 'a file'}: {exc.strerror or type(exc).__name__}")


def _stage_command(name: str, doc: str):
    def command(
        scale: ScaleOpt = None,
        seed: SeedOpt = None,
        config: ConfigOpt = None,
        data_dir: DataOpt = None,
        reports_dir: ReportsOpt = None,
        sources: SourcesOpt = None,
        engine: EngineOpt = None,
    ) -> None:
        cfg = _cfg(config, scale, seed, data_dir, reports_dir, sources, engine)
        _run(cfg, (name,), force=True)  # a stage asked for by name always runs

    command.__doc__ = doc
    return command


app.command("generate")(
    _stage_command("generate", "Generate the synthetic sources, truth and codebook.")
)
app.command("validate")(_stage_command("validate", "Validate the sources; quarantine bad rows."))
app.command("link")(_stage_command("link", "Link child-welfare records to students (splink)."))
app.command("deidentify")(_stage_command("deidentify", "Build the de-identified analytic dataset."))
app.command("analyse")(
    _stage_command("analyse", "Outcomes, models and the five performance indicators.")
)
app.command("render")(
    _stage_command("render", "Run the report notebooks and render HTML, PDF and CSV.")
)


@app.command("build")
def build_command(
    scale: ScaleOpt = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    data_dir: DataOpt = None,
    reports_dir: ReportsOpt = None,
    sources: SourcesOpt = None,
    engine: EngineOpt = None,
    force: ForceOpt = False,
) -> None:
    """Run every stage in order (unchanged stages are skipped) and say where the reports are."""
    from analysis.pipeline import stages_for

    cfg = _cfg(config, scale, seed, data_dir, reports_dir, sources, engine)
    t0 = time.perf_counter()
    _run(cfg, stages_for(cfg), force)
    index = (cfg.paths.reports_dir / "index.html").resolve()
    console.print(
        f"\n[bold green]Build complete[/] in {time.perf_counter() - t0:.0f} s. "
        f"Open [bold]{index}[/] in a browser.",
        highlight=False,
    )


@app.command("audit")
def audit_command(
    scale: ScaleOpt = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    data_dir: DataOpt = None,
    reports_dir: ReportsOpt = None,
    engine: Annotated[
        str, typer.Option("--engine", help="highs (the project's), gconfid, or both")
    ] = "both",
) -> None:
    """Attack the published release as a reader holds it (the open data and every table the
    reports print) in the project's LP and in G-Confid; exit 1 if any hidden value can be
    narrowed below the rule."""
    from analysis.reports import audit, opendata

    if engine not in ("highs", "gconfid", "both"):
        _fail(f"--engine: '{engine}' is not one of highs, gconfid, both")
    cfg = _cfg(config, scale, seed, data_dir, reports_dir)
    engines = ("highs", "gconfid") if engine == "both" else (engine,)
    prov_file = audit.folder(cfg) / audit.PRINTED_FILE
    if not prov_file.is_file():
        _fail(f"{prov_file}: not found (run `analysis render` or `analysis build` first)")
    try:
        files = audit.saved_printed_files(cfg)
        files.update(opendata.audit_files(cfg.paths.reports_dir / opendata.FOLDER))
        provenance = audit.read_provenance([prov_file])
        report = audit.run(cfg, files, provenance, engines=engines)
    except FileNotFoundError as exc:
        _fail(f"{exc.filename or exc}: not found (run `analysis build` first)")
        raise
    path = audit.save(cfg, report, provenance)
    s = report["summary"]
    table = Table(title=f"analysis audit --scale {cfg.scale}")
    for col in ("engine", "examined", "failures", "seconds"):
        table.add_column(col, justify="left" if col == "engine" else "right")
    for e in report["engines"].values():
        ran = e.get("ran", True)
        table.add_row(
            e["engine"],
            str(e.get("examined", "-")) if ran else "not run",
            str(len(e.get("failures", []))) if ran else e.get("reason", ""),
            f"{e.get('seconds', 0):.1f}",
        )
    Console().print(table)
    Console().print(
        f"{s['files']} files, {report['rows']} rows, {report['printed_numbers']} printed numbers; "
        f"{s['variables']} quantities, {s['relations']} relations; "
        f"{s['file_problems']} printing problems; {s['seconds']:.1f} s. Report: {path}"
    )
    if not report["passed"]:
        console.print(
            f"[bold red]audit failed:[/] {audit.failure_message(report)}", highlight=False
        )
        raise typer.Exit(1)
    Console().print("[bold green]audit passed[/]: no hidden value can be worked out")


@app.command("screen")
def screen_command(
    folder: Annotated[
        Path, typer.Argument(help="Folder of open data files (e.g. reports/data/open)")
    ],
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Show every check, passes too")
    ] = False,
) -> None:
    """Screen open data files (<name>.csv + <name>.meta.csv) against the open data standard."""
    from analysis.reports.opendata import screen_dir

    result = screen_dir(folder)
    table = Table(title=f"analysis screen {folder}")
    for col in ("file", "check", "result", "message"):
        table.add_column(col, overflow="fold")
    for f in result.findings:
        if verbose or f.status != "PASS":
            style = {"FAIL": "bold red", "WARNING": "yellow"}.get(f.status, "green")
            table.add_row(f.file, f.check, f"[{style}]{f.status}[/]", f.message)
    Console().print(table)
    n_files = len(result.files())
    passed = sum(f.status == "PASS" for f in result.findings)
    Console().print(
        f"{n_files} files, {len(result.findings)} checks: {passed} passed, "
        f"{len(result.warnings)} warnings, {len(result.failures)} failures"
    )
    if not result.passed:
        raise typer.Exit(1)


@app.command("bench")
def bench_command(
    scale: ScaleOpt = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    data_dir: DataOpt = None,
    reports_dir: ReportsOpt = None,
    naive: Annotated[
        int, typer.Option(help="Reports to render the naive way for the ratio (0 = skip)")
    ] = 6,
    repeat: Annotated[
        int, typer.Option(help="Runs of each stage; the table shows medians (3 near a floor)")
    ] = 1,
) -> None:
    """Time every stage (wall, CPU, peak memory) and write reports/bench/<scale>.json."""
    from analysis.bench import run_bench

    cfg = _cfg(config, scale, seed, data_dir, reports_dir)
    res = run_bench(cfg, naive_reports=naive, repeats=repeat)
    title = f"analysis bench --scale {cfg.scale}"
    table = Table(title=title + (f" (median of {repeat} runs)" if repeat > 1 else ""))
    for col in ("stage", "wall s", "cpu s", "peak MiB"):
        table.add_column(col, justify="right" if col != "stage" else "left")
    for row in res["stages"]:
        table.add_row(
            row["stage"], f"{row['wall_s']:.1f}", f"{row['cpu_s']:.1f}", f"{row['peak_mib']:.0f}"
        )
    t = res["total"]
    table.add_row("[bold]total", f"{t['wall_s']:.1f}", f"{t['cpu_s']:.1f}", f"{t['peak_mib']:.0f}")
    Console().print(table)
    for key, label in (
        ("naive", "naive vs fast rendering"),
        ("analyst_loop", "analyst loop (board notebook)"),
    ):
        if key in res:
            Console().print(f"[bold]{label}:[/] " + json.dumps(res[key]))
    floors = Table(title="floors (the provincial build's; informative at other scales)")
    for col in ("floor", "value", "limit", "met"):
        floors.add_column(col, justify="left" if col == "floor" else "right")
    for f in res["floors"]:
        sign = "<=" if f["direction"] == "max" else ">="
        floors.add_row(
            f["what"],
            f"{f['value']:g}",
            f"{sign} {f['limit']:g}",
            "yes" if f["met"] else "[bold]NO",
        )
    Console().print(floors)
    Console().print(f"written to {cfg.paths.reports_dir / 'bench' / (cfg.scale + '.json')}")


def main() -> None:  # pragma: no cover
    logging.basicConfig(level=logging.WARNING)
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
