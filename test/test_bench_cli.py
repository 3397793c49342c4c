"""haze_bench CLI: outputs, machine record, missing and failing suites (tiny sizes, few runs)."""

import json

import pytest

from haze_ros.tools import bench
from haze_ros.tools.bench_common import ROW_KEYS


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


def test_missing_and_failing_suites_do_not_hide_the_others(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(bench.SUITES, "ghost", ("haze_ros.tools.no_such_bench_module", "suite", False))
    monkeypatch.setitem(bench.SUITES, "broken", ("haze_ros.tools.bench_physics", "no_such_function", False))
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
