"""The benchmark command: its measurement works (default run, tiny) and the benchmarks (marker).

The benchmarks print numbers and assert only what cannot be noise (the stage ran, the numbers
are there); time and memory floors are read from the printed table, never asserted here.
"""

from __future__ import annotations

import json

import pytest

from analysis.bench import _Timer, measure_stage, run_bench
from conftest import make_cfg


def test_timer_counts_outermost_calls_once():
    t = _Timer()

    @t.wrap
    def inner(x: int) -> int:
        return x + 1

    @t.wrap
    def outer(x: int) -> int:
        return inner(inner(x))

    assert outer(1) == 3
    assert inner(1) == 2
    assert t.calls == 2  # outer once, inner once on its own; nested calls not counted again
    assert t.wall >= 0 and t.cpu >= 0


def test_measure_generate_on_tiny_in_a_child_process(tmp_path):
    cfg = make_cfg(tmp_path)
    row = measure_stage(cfg, "generate")
    assert row["stage"] == "generate"
    assert (cfg.paths.sources / "onsis_enrolment.parquet").is_file()
    assert row["rows"]["onsis_enrolment out"] > 0
    # the child did the work: its CPU time and memory are counted, not this process's
    assert row["cpu_s"] > 0
    assert row["wall_s"] >= row["stage_s"] > 0
    assert 50 < row["peak_mib"] < 4096


def test_run_bench_writes_the_json_and_totals(tmp_path):
    cfg = make_cfg(tmp_path)
    res = run_bench(cfg, naive_reports=0, stages=("generate", "validate"))
    out = cfg.paths.reports_dir / "bench" / "tiny.json"
    assert out.is_file()
    saved = json.loads(out.read_text())
    assert [r["stage"] for r in saved["stages"]] == ["generate", "validate"]
    for key in ("wall_s", "cpu_s", "peak_mib"):
        assert res["total"][key] > 0
    assert res["total"]["wall_s"] == pytest.approx(
        sum(r["wall_s"] for r in res["stages"]), abs=0.05
    )
    assert res["total"]["peak_mib"] == max(r["peak_mib"] for r in res["stages"])


def _print(res: dict) -> None:
    print(f"\n{'stage':<12}{'wall s':>9}{'cpu s':>9}{'peak MiB':>10}")
    for r in res["stages"]:
        print(f"{r['stage']:<12}{r['wall_s']:>9.1f}{r['cpu_s']:>9.1f}{r['peak_mib']:>10.0f}")
    t = res["total"]
    print(f"{'total':<12}{t['wall_s']:>9.1f}{t['cpu_s']:>9.1f}{t['peak_mib']:>10.0f}")
    if "naive" in res:
        print("naive vs fast rendering:", json.dumps(res["naive"]))


@pytest.mark.bench
@pytest.mark.parametrize("scale", ["tiny", "small"])
def test_bench_data_stages(tmp_path, scale):
    cfg = make_cfg(tmp_path, scale=scale)
    res = run_bench(
        cfg, naive_reports=0, stages=("generate", "validate", "link", "deidentify", "analyse")
    )
    _print(res)
    assert {r["stage"] for r in res["stages"]} >= {"generate", "link", "analyse"}


@pytest.mark.bench
def test_bench_full_build_with_naive_comparison(tmp_path):
    cfg = make_cfg(tmp_path, scale="small")
    res = run_bench(cfg, naive_reports=4)
    _print(res)
    assert res["naive"]["reports"] == 4


@pytest.mark.bench
@pytest.mark.province
def test_bench_province(tmp_path):
    cfg = make_cfg(tmp_path, scale="province")
    res = run_bench(cfg, naive_reports=6)
    _print(res)
    assert res["total"]["wall_s"] > 0


def test_floors_are_checked_against_the_measured_figures():
    from analysis.bench import check_floors

    res = {
        "stages": [
            {"stage": "link", "wall_s": 70.0, "metrics": {"f1": 0.996}},
            {"stage": "render", "wall_s": 200.0},
        ],
        "total": {"wall_s": 650.0, "peak_mib": 3000.0},
        "naive": {"ratio_vs_render_stage": 4.0},
        "analyst_loop": {"rerun_median_s": 1.2},
    }
    met = {f["floor"]: f["met"] for f in check_floors(res)}
    assert met == {
        "end_to_end_s": False,
        "peak_mib": True,
        "link_s": False,
        "link_f1": True,
        "render_s": True,
        "render_speedup": False,
        "analyst_loop_s": True,
    }
    # without a render stage there is no end-to-end figure to judge
    res["stages"] = res["stages"][:1]
    assert "end_to_end_s" not in {f["floor"] for f in check_floors(res)}


def test_repeats_give_medians_and_keep_every_run(tmp_path):
    cfg = make_cfg(tmp_path)
    res = run_bench(cfg, naive_reports=0, stages=("generate",), repeats=3)
    row = res["stages"][0]
    assert len(row["runs"]) == 3
    walls = sorted(r["wall_s"] for r in row["runs"])
    assert row["wall_s"] == walls[1]


def test_forced_render_renders_every_report_again(tmp_path, monkeypatch):
    """The bench forces each stage; a forced render must not be served from the render cache."""
    from analysis import pipeline
    from analysis.stages import StageResult

    cfg = make_cfg(tmp_path)
    cache = cfg.paths.data_dir / ".render-cache" / "somekey"
    cache.mkdir(parents=True)
    (cache / "entry.json").write_text("{}")
    monkeypatch.setattr(pipeline, "_stage_fn", lambda name: lambda c: StageResult(stage=name))
    monkeypatch.setattr(pipeline, "stage_outputs", lambda c, name: [])
    pipeline.run_stage(cfg, "render", force=False)
    assert cache.is_dir()  # an ordinary run keeps the cache (resume after an interruption)
    pipeline.run_stage(cfg, "render", force=True)
    assert not cache.exists()


def test_bench_without_the_naive_comparison_still_reports_the_render_stage(tmp_path, monkeypatch):
    from analysis import bench

    cfg = make_cfg(tmp_path)
    monkeypatch.setattr(
        bench,
        "measure_stage",
        lambda c, name: {
            "stage": name,
            "wall_s": 1.0,
            "cpu_s": 1.0,
            "peak_mib": 10.0,
            "rows": {"reports": 4},
            "metrics": {},
        },
    )
    monkeypatch.setattr(bench, "analyst_loop", lambda c: {"rerun_median_s": 0.5})
    res = run_bench(cfg, naive_reports=0, stages=("render",))
    assert "naive" not in res and res["render_s_per_report"] == 0.25
    assert {f["floor"] for f in res["floors"]} >= {"render_s", "analyst_loop_s"}
