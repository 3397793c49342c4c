"""haze_bench CLI: outputs, machine record, missing and failing suites (tiny sizes, few runs).

Besides the shape of the output, the figures are checked against what this machine allows and
against each other: a process cannot use more CPU time than its cores give it, less work must be
faster (depth completion at 1/4 resolution, our DCP against the plain reference), and the derived
columns (fps, "N× faster") agree with the times they come from.
"""

import json
import os

import pytest

from haze_ros.bench import cli as bench
from haze_ros.bench.common import ROW_KEYS


def test_writes_json_markdown_and_plot(tmp_path, capsys):
    paths = {name: tmp_path / f"bench.{name}" for name in ("json", "md", "png")}
    code = bench.main(["--suite", "processor", "--suite", "physics", "--sizes", "48x32", "64x40",
                       "--runs", "2", "--json", str(paths["json"]), "--markdown", str(paths["md"]),
                       "--plot", str(paths["png"])])
    assert code == 0
    report = json.loads(paths["json"].read_text())
    assert report["machine"]["cores"] >= 1 and report["machine"]["cpu"] and report["machine"]["numpy"]
    rows = report["rows"]
    assert {r["suite"] for r in rows} == {"processor", "physics"}
    assert {r["size"] for r in rows if r["suite"] == "processor"} == {"48x32", "64x40"}
    for row in rows:
        assert set(ROW_KEYS) <= set(row) and row["n"] == 2 and row["p95_ms"] >= row["p50_ms"] >= 0.0
    markdown = paths["md"].read_text()
    assert markdown.startswith("Machine: ")
    assert "| physics | LiDAR completion work_scale=2 | 1936x1216 |" in markdown
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"
    assert "| processor | overhead, bgr8 | 48x32 |" in capsys.readouterr().out
    _check_figures_this_machine_allows(rows)
    completion = {r["case"]: r["p50_ms"] for r in rows if r["case"].startswith("LiDAR completion")}
    # 1/16 of the pixels at work_scale=4 (156 ms vs 12 ms here): the timing must see the difference
    assert completion["LiDAR completion work_scale=4"] < completion["LiDAR completion work_scale=1"]


def _check_figures_this_machine_allows(rows):
    cores = len(os.sched_getaffinity(0))
    ram_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e6
    for row in rows:
        name = f"{row['suite']} / {row['case']} / {row['size']}"
        if row["fps"] is not None:
            assert row["fps"] == pytest.approx(1000.0 / row["p50_ms"], rel=1e-6), name
        if row.get("cpu_ms") is not None:  # process CPU time per call <= cores x wall time (+ timer slack)
            assert 0.0 <= row["cpu_ms"] <= cores * row["p95_ms"] * 1.5 + 1.0, name
        if row["peak_mem_mb"] is not None:
            assert 0.0 <= row["peak_mem_mb"] < ram_mb, name


def test_reference_dcp_is_slower_than_ours(tmp_path):
    """The dcp suite's point: haze_ros' DCP beats the plain float64 reference (4-8x here)."""
    out = tmp_path / "dcp.json"
    assert bench.main(["--suite", "dcp", "--sizes", "160x90", "--runs", "3", "--json", str(out)]) == 0
    rows = {r["backend"] + ": " + r["case"]: r for r in json.loads(out.read_text())["rows"]}
    reference = rows["reference: plain numpy/OpenCV reference"]["p50_ms"]
    ours = [r for key, r in rows.items() if key.startswith("dcp: ")]
    assert len(ours) == 2
    for row in ours:
        assert reference > 1.5 * row["p50_ms"], (reference, row)
        claimed = float(row["notes"].rsplit("x faster than reference", 1)[0].split()[-1])
        assert claimed == pytest.approx(reference / row["p50_ms"], abs=0.051)
    _check_figures_this_machine_allows(list(rows.values()))


def test_missing_and_failing_suites_do_not_hide_the_others(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(bench.SUITES, "ghost", ("haze_ros.bench.no_such_bench_module", "suite", False))
    monkeypatch.setitem(bench.SUITES, "broken", ("haze_ros.bench.physics", "no_such_function", False))
    out = tmp_path / "bench.json"
    code = bench.main(["--suite", "ghost", "--suite", "broken", "--suite", "processor",
                       "--sizes", "32x24", "--runs", "1", "--json", str(out)])
    assert code == 1
    problems = {p["suite"]: p for p in json.loads(out.read_text())["problems"]}
    assert problems["ghost"]["status"] == "unavailable"
    assert "no_such_bench_module" in problems["ghost"]["reason"]
    assert problems["broken"]["status"] == "failed"
    assert len(json.loads(out.read_text())["rows"]) == 5  # processor still ran (5 encodings)
    assert "not in this installation" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--runs", "0"], ["--sizes", "640by360"], ["--suite", "nope"]])
def test_bad_arguments_exit_with_usage(argv):
    with pytest.raises(SystemExit) as info:
        bench.main(argv)
    assert info.value.code == 2


@pytest.mark.timeout(240)
def test_node_suite_covers_the_learned_backends(tmp_path, monkeypatch):
    """``--suite node --model``: dehaze with dcp and the model, haze with the flat road and learned depth."""
    from model_fixtures import write_random_checkpoint

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    checkpoint = write_random_checkpoint(tmp_path / "edge_random", seed=4)
    out = tmp_path / "node.json"
    assert bench.main(["--suite", "node", "--sizes", "64x48", "--runs", "2", "--model", str(checkpoint),
                       "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    cases = {(r["case"].split(":")[0], r["backend"]) for r in rows}
    learned = {"onnxruntime", "torch"}
    assert ("dehaze (dcp)", "dcp") in cases and ("haze (physics, flat road)", "physics") in cases
    assert {b for c, b in cases if c in ("dehaze (model)", "haze (model, learned depth)")} <= learned
    assert ("dehaze (model, 2 inference workers)", "onnxruntime") in cases  # across processes only
    assert ("haze (model, learned depth, 2 inference workers)", "onnxruntime") in cases
    assert len(rows) == 22 and all(r["size"] == "64x48" for r in rows)
    assert sum("end-to-end over DDS" in r["case"] for r in rows) == 6
    streams = [r for r in rows if "throughput over DDS, input at 30 Hz" in r["case"]]
    capacity = [r for r in rows if "capacity over DDS, input at 60 Hz" in r["case"]]
    assert len(streams) == 6 and len(capacity) == 6
    assert all(r["n"] == 2 for r in rows if r not in streams + capacity)
    for row in streams:  # 30 frames at 30 Hz into a 64x48 node: most come out, at no more than ~30 fps
        assert row["n"] >= 15 and 10.0 <= row["fps"] <= 45.0, row
    for row in capacity:  # ... at 60 Hz: a 64x48 frame takes a few ms, so well above 30 fps
        assert row["n"] >= 15 and 30.0 <= row["fps"] <= 90.0, row
