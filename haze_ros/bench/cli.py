r"""``haze_bench``: latency benchmarks of haze_ros, as a markdown table, JSON and an optional plot.

Usage::

    haze_bench                                   # every suite, 640x360 1280x720 1920x1080, 30 runs
    haze_bench --suite physics --suite dcp --suite processor --runs 50 \\
               --json bench.json --markdown bench.md --plot bench.png

Suites are registered by name in ``SUITES`` (module, function, whether it takes the CLI args):
``physics``, ``dcp``, ``processor`` (``bench.physics``); ``conversion``, ``node``
(``ros_tools.bench_node``) and ``models`` (``bench.models``) come from other modules, imported
lazily: a missing module is reported and the other suites still run. Each suite returns rows with
the keys of ``bench_common.ROW_KEYS``; p50 / p95 are over ``--runs`` timed calls after 3 warm-up
calls. The machine (CPU model, cores, load, Python, numpy / OpenCV / torch versions) is recorded
with every result.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import sys
import traceback
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from haze_ros.bench.common import DEFAULT_SIZES, machine_info, markdown_table, parse_size, size_label

# name -> (module, function, takes_args)
SUITES: Dict[str, Tuple[str, str, bool]] = {
    "physics": ("haze_ros.bench.physics", "suite_physics", False),
    "dcp": ("haze_ros.bench.physics", "suite_dcp", False),
    "processor": ("haze_ros.bench.physics", "suite_processor", False),
    "conversion": ("haze_ros.ros_tools.bench_node", "suite_conversion", False),
    "node": ("haze_ros.ros_tools.bench_node", "suite_node", True),
    "models": ("haze_ros.bench.models", "suite_models", True),
}


class SuiteUnavailable(RuntimeError):
    """The module that provides a suite is not present in this installation."""


def _load_suite(name: str):
    module_name, function_name, takes_args = SUITES[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise SuiteUnavailable(f"suite {name!r} needs {module_name}, "
                                   "which is not in this installation") from None
        raise
    return getattr(module, function_name), takes_args


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="haze_bench", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", action="append", choices=sorted(SUITES), dest="suites",
                        help="suite to run (repeatable; default: all)")
    parser.add_argument("--sizes", nargs="+", default=[size_label(s) for s in DEFAULT_SIZES],
                        help="frame sizes WIDTHxHEIGHT (default: 640x360 1280x720 1920x1080)")
    parser.add_argument("--runs", type=int, default=30,
                        help="timed runs per case after warm-up (>= 1; default 30)")
    parser.add_argument("--json", type=Path, help="write the results and the machine as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the markdown table here")
    parser.add_argument("--plot", type=Path, help="write a bar chart of p50 latencies here (PNG, matplotlib)")
    parser.add_argument("--model", default="", help="model file for the models suite and the node suite's "
                                                    "learned cases ('' = shipped default)")
    parser.add_argument("--device", default="", help="device for the models suite and the node suite's "
                                                     "learned cases (cpu, cuda, ...)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    try:
        args.size_tuples = [parse_size(s) for s in args.sizes]
    except ValueError as exc:
        parser.error(str(exc))
    return args


def run_suites(args: argparse.Namespace) -> Tuple[List[dict], List[dict]]:
    """Run the chosen suites; returns (rows, problems) where problems name skipped or failed suites."""
    rows, problems = [], []
    for name in args.suites or list(SUITES):
        try:
            function, takes_args = _load_suite(name)
            print(f"running suite {name} ...", file=sys.stderr, flush=True)
            result = function(args.size_tuples, args.runs, args) if takes_args else \
                function(args.size_tuples, args.runs)
            rows.extend(result)
        except SuiteUnavailable as exc:
            problems.append({"suite": name, "status": "unavailable", "reason": str(exc)})
            print(f"skipped: {exc}", file=sys.stderr)
        except Exception as exc:  # a failing suite must not hide the others' results
            problems.append({"suite": name, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"})
            print(f"suite {name} failed:\n{traceback.format_exc()}", file=sys.stderr)
    return rows, problems


def render_markdown(rows: List[dict], machine: dict, problems: List[dict], started: str) -> str:
    """Render the report: machine line, table, skipped / failed suites."""
    lines = [f"Machine: {machine['cpu']}, {machine['cores']} cores "
             f"(OpenCV threads {machine['opencv_threads']}), "
             f"load average {machine['load_average_1m']} at start; Python {machine['python']}, "
             f"numpy {machine['numpy']}, OpenCV {machine['opencv']}, torch {machine['torch']}; "
             f"{machine['platform']}; {started}.", ""]
    lines += markdown_table(rows)
    for problem in problems:
        lines.append(f"\n*{problem['suite']}: {problem['status']}* — {problem['reason']}")
    return "\n".join(lines) + "\n"


def write_plot(rows: List[dict], path: Path) -> None:
    """Horizontal bar chart of p50 latency per (case, size), one colour per suite."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['suite']}: {r['case']} @ {r['size']}" for r in rows]
    suites = sorted({r["suite"] for r in rows})
    colours = {s: plt.cm.tab10(i % 10) for i, s in enumerate(suites)}
    figure, axis = plt.subplots(figsize=(10, 0.28 * len(rows) + 1.5))
    axis.barh(range(len(rows)), [r["p50_ms"] for r in rows], color=[colours[r["suite"]] for r in rows])
    axis.set_yticks(range(len(rows)), labels, fontsize=7)
    axis.invert_yaxis()
    axis.set_xscale("log")
    axis.set_xlabel("p50 latency per frame [ms] (log scale)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``haze_bench``: 0, or 1 when a suite failed or an asked-for suite is missing."""
    args = parse_args(argv)
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    machine = machine_info()
    rows, problems = run_suites(args)
    report = render_markdown(rows, machine, problems, started)
    print(report)
    if args.json:
        args.json.write_text(json.dumps({"started": started, "machine": machine, "runs": args.runs,
                                         "sizes": args.sizes, "rows": rows, "problems": problems}, indent=2))
    if args.markdown:
        args.markdown.write_text(report)
    if args.plot and rows:
        write_plot(rows, args.plot)
    failed = any(p["status"] == "failed" for p in problems)
    missing_asked = bool(args.suites) and any(p["status"] == "unavailable" for p in problems)
    return 1 if failed or missing_asked else 0


if __name__ == "__main__":
    sys.exit(main())
