"""GPU check in one command (``scripts/gpu_check.sh OUTDIR``): GPU tests + model benchmark → report.

Meant for a machine with a CUDA GPU whose Python already has PyTorch (CUDA build), ONNX and ONNX
Runtime, maybe without TensorRT and without ROS: nothing here imports rclpy. Steps:

1. environment: torch / CUDA / GPU, TensorRT (or why not), ONNX Runtime providers;
2. ``pytest test/gpu -m gpu`` (JUnit XML kept), skipped tests listed with their reasons;
3. the model benchmark (``bench_models.suite_models``): GPU runtimes for every preset and size,
   the CPU runtimes for ``edge`` at 640×360 as a reference, under an overall time budget;
4. ``gpu_check.json`` + ``gpu_check.md`` in OUTDIR.

Exit status: 0 = tests passed and the benchmark ran; 1 = a test failed or the benchmark errored;
3 = no CUDA device (report written, nothing GPU-related was checked).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List, Optional

from haze_ros.bench import models as bench_models

REPO = Path(__file__).resolve().parents[2]
EXIT_OK, EXIT_FAILED, EXIT_NO_CUDA = 0, 1, 3


def environment() -> Dict:
    """Versions and devices: torch, CUDA, GPU, TensorRT (or the import error), ONNX, ONNX Runtime."""
    info: Dict = {"python": sys.version.split()[0], "cuda_available": False}
    try:
        import torch

        info.update(torch=torch.__version__, torch_cuda=torch.version.cuda,
                    cuda_available=torch.cuda.is_available())
        if info["cuda_available"]:
            major, minor = torch.cuda.get_device_capability(0)
            info.update(gpu=torch.cuda.get_device_name(0), compute_capability=f"{major}.{minor}",
                        gpu_memory_gb=round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1))
    except Exception as exc:
        info["torch"] = f"not importable: {exc}"
    for name in ("tensorrt", "onnx", "onnxruntime"):
        try:
            module = __import__(name)
            info[name] = getattr(module, "__version__", "?")
        except Exception as exc:
            info[name] = f"not importable: {type(exc).__name__}: {exc}"
    try:
        import onnxruntime

        info["onnxruntime_providers"] = onnxruntime.get_available_providers()
    except Exception:
        pass
    return info


def run_gpu_tests(out: Path, timeout_s: int) -> Dict:
    """``pytest test/gpu -m gpu`` in a subprocess; returns counts, failures and skip reasons."""
    junit = out / "gpu_tests.xml"
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    cmd = [sys.executable, "-m", "pytest", "test/gpu", "-m", "gpu", "-q", "-rs", "-p", "no:cacheprovider",
           f"--junitxml={junit}"]
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s)
        output, returncode = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        output, returncode = f"{exc.stdout or ''}\nTIMEOUT after {timeout_s} s", -1
    (out / "gpu_tests.log").write_text(output)
    result = {"command": " ".join(cmd), "returncode": returncode,
              "seconds": round(time.monotonic() - started, 1), "cases": []}
    if junit.is_file():
        for case in ElementTree.parse(junit).getroot().iter("testcase"):
            status, message = "passed", ""
            for tag in ("failure", "error", "skipped"):
                node = case.find(tag)
                if node is not None:
                    status, message = tag, (node.get("message") or "")[:300]
            result["cases"].append({"name": f"{case.get('classname')}::{case.get('name')}", "status": status,
                                    "message": message})
    result["counts"] = {s: sum(c["status"] == s for c in result["cases"])
                        for s in ("passed", "failure", "error", "skipped")}
    return result


def run_benchmark(budget_s: float, runs: int) -> Dict:
    """GPU runtimes × presets × sizes, then CPU runtimes for edge at 640×360; stops at ``budget_s``."""
    started, rows, skipped_parts = time.monotonic(), [], []
    parts = [(["tensorrt", "torch_cuda"], ["edge", "paper"], list(bench_models.DEFAULT_SIZES)),
             (["onnxruntime", "torch"], ["edge"], [(640, 360)])]
    for backends, presets, sizes in parts:
        for preset in presets:
            remaining = budget_s - (time.monotonic() - started)
            if remaining < 30:
                skipped_parts.append(f"{preset} on {backends}: overall benchmark budget spent")
                continue
            args = SimpleNamespace(backends=backends, presets=[preset], warmup=10,
                                   case_budget_s=min(20.0, remaining / 12))
            try:
                rows += bench_models.suite_models(sizes, runs, args)
            except Exception as exc:
                rows.append({"suite": "models", "case": f"{preset} error", "backend": ",".join(backends),
                             "n": 0, "notes": f"{type(exc).__name__}: {exc}"})
    return {"rows": rows, "skipped": skipped_parts, "seconds": round(time.monotonic() - started, 1),
            "machine": bench_models.machine_description()}


def target_lines(rows: List[Dict]) -> List[str]:
    """Targets of the deployment issue checked against the rows (PASS/FAIL/NOT MEASURED)."""
    def find(case: str, size: str, backend_prefix: str) -> Optional[Dict]:
        return next((r for r in rows if r.get("case") == case and r.get("size") == size
                     and str(r.get("backend", "")).startswith(backend_prefix) and r.get("p50_ms")), None)

    lines = []
    for label, case, size, prefix, limit in (
            ("edge, TensorRT, 1920x1080, node end to end <= 5 ms", "edge node_e2e", "1920x1080", "tensorrt",
             5.0),
            ("edge, PyTorch CUDA, 1920x1080, node end to end <= 5 ms", "edge node_e2e", "1920x1080",
             "torch_cuda", 5.0)):
        row = find(case, size, prefix)
        verdict = "NOT MEASURED" if row is None else ("PASS" if row["p50_ms"] <= limit else "FAIL")
        lines.append(f"- {label}: {verdict}" + (f" (p50 {row['p50_ms']} ms)" if row else ""))
    return lines


def write_report(out: Path, report: Dict) -> None:
    """``gpu_check.json`` and ``gpu_check.md`` in ``out``."""
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    env = report["environment"]
    lines = [f"# haze_ros GPU check: {report['status']}", "", report["summary"], "",
             "## Environment", ""] + [f"- {k}: {v}" for k, v in env.items()]
    tests = report.get("tests")
    if tests:
        lines += ["", "## GPU tests", "",
                  f"`{tests['command']}` → {tests['counts']} in {tests['seconds']} s", ""]
        lines += [f"- {c['status']}: {c['name']}" + (f" — {c['message']}" if c["message"] else "")
                  for c in tests["cases"]]
    bench = report.get("benchmark")
    if bench:
        lines += ["", "## Model benchmark", "", f"machine: {bench['machine']}", "",
                  bench_models.markdown_table(bench["rows"])]
        lines += [f"- not run: {s}" for s in bench["skipped"]]
        lines += ["", "### Targets", ""] + target_lines(bench["rows"])
    (out / "gpu_check.md").write_text("\n".join(lines) + "\n")


def main(argv: Optional[List[str]] = None) -> int:
    """Run the check; see the module docstring for the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--test-timeout-s", type=int, default=240)
    parser.add_argument("--bench-budget-s", type=float, default=300.0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report: Dict = {"environment": environment()}
    if not report["environment"]["cuda_available"]:
        report.update(status="no CUDA device", summary="No CUDA device visible to torch: GPU tests and GPU "
                      "benchmark NOT run (skipped: test/gpu, TensorRT and PyTorch-CUDA benchmarks).")
        write_report(args.out, report)
        print(f"gpu_check: {report['summary']}\nreport: {args.out / 'gpu_check.md'}")
        return EXIT_NO_CUDA
    print("gpu_check: running GPU tests ...", flush=True)
    report["tests"] = run_gpu_tests(args.out, args.test_timeout_s)
    print(f"gpu_check: tests {report['tests']['counts']}; running the benchmark ...", flush=True)
    report["benchmark"] = run_benchmark(args.bench_budget_s, args.runs)
    counts = report["tests"]["counts"]
    failed = counts["failure"] + counts["error"] > 0 or report["tests"]["returncode"] not in (0, 5)
    errors = [r for r in report["benchmark"]["rows"] if str(r.get("case", "")).endswith("error")]
    report["status"] = "FAILED" if failed or errors else "passed"
    report["summary"] = (f"GPU {report['environment'].get('gpu')}: tests {counts}; benchmark "
                         f"{len(report['benchmark']['rows'])} rows, {len(errors)} errors.")
    write_report(args.out, report)
    print(f"gpu_check: {report['status']}: {report['summary']}\nreport: {args.out / 'gpu_check.md'}")
    return EXIT_FAILED if failed or errors else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
