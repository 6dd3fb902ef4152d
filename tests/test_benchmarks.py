"""The benchmark harness runs and checks what it times (speed itself is not tested here)."""

import json
import subprocess
import sys


def test_quick_benchmark_row_runs_and_writes_results(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--only",
            "compute_cost",
            "--repeats",
            "1",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    payload = json.loads((tmp_path / "results.json").read_text())
    rows = payload["rows"]
    assert rows and all(row["name"] == "compute_cost" for row in rows)
    assert all(row["ratio_vs_numpy"] > 0 for row in rows)
    assert "| compute_cost |" in (tmp_path / "results.md").read_text()
