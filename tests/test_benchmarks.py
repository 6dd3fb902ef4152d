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


def _small_course_data(seed=0, n_x=1030, m=12):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = np.asfortranarray(rng.random((n_x, m)))  # the notebook's layout: a skinny first layer
    Y = (rng.random((1, m)) > 0.5).astype(np.int64)  # the course's int64 labels
    return X, Y


def test_notebook_loops_give_the_same_costs_with_either_contender():
    """The notebook benchmark's two loops, with the course's functions and fastdnn's:
    the same costs and parameters (the drop-in promise the benchmark's ratio rests on)."""
    import numpy as np

    from benchmarks import notebook
    from fastdnn.app import initialize_parameters, initialize_parameters_deep

    X, Y = _small_course_data()
    for loop, params in (
        (notebook.two_layer_model, initialize_parameters(X.shape[0], 7, 1)),
        (notebook.L_layer_model, initialize_parameters_deep([X.shape[0], 5, 3, 1])),
    ):
        out = {
            name: loop(F, X, Y, params, 0.0075, 101) for name, F in notebook.contenders().items()
        }
        (p_fast, c_fast), (p_ref, c_ref) = out["fastdnn"], out["numpy"]
        assert len(c_fast) == len(c_ref) == 2
        np.testing.assert_allclose(np.array(c_fast, float), np.array(c_ref, float), rtol=1e-10)
        for key in p_ref:
            np.testing.assert_allclose(p_fast[key], p_ref[key], rtol=1e-9, atol=1e-12)


def test_reference_trainer_steps_do_the_trainers_work():
    """The NumPy side of the trainer_step row and of the demo: the same results as
    fastdnn's trainer, so the ratio compares the same work."""
    import numpy as np

    from fastdnn.app import initialize_parameters_deep
    from fastdnn.app.train import train
    from fastdnn.course import reference as R

    X, Y = _small_course_data(1)
    params = initialize_parameters_deep([X.shape[0], 6, 4, 1])
    p_fast, c_fast = train(X, Y, params, 0.05, 201)
    p_ref, c_ref = R.trainer_steps(X, Y, params, 0.05, 201)
    np.testing.assert_allclose(np.array(c_fast, float), np.array(c_ref, float), rtol=1e-10)
    for key in p_ref:
        np.testing.assert_allclose(p_fast[key], p_ref[key], rtol=1e-9, atol=1e-12)
    assert params["W1"] is not p_ref["W1"]  # the caller's parameters untouched


def test_first_layer_product_rows_agree_with_numpy():
    """The first-layer product rows time what they name: every contender's result
    (fastdnn's kernels, torch's when installed) equals NumPy's product."""
    from benchmarks import cases
    from benchmarks.__main__ import check

    rows = [c for c in cases.all_cases("quick") if c["name"].startswith("first_layer[")]
    assert len(rows) == 6  # three products, float64 and float32, m = 209
    for case in rows:
        check(case)


def test_int8_benchmark_runs_and_reports_accuracy():
    from benchmarks import int8

    lines = []
    rows = int8.run(iterations=2, repeats=1, min_time=0.001, out=lines.append, examples=40)
    text = "\n".join(lines)
    assert "differ between int8 and float32" in text and "equal labels" in text
    timed = [r for r in rows if "seconds" in r]
    assert len(timed) == 3 and all(all(v[0] > 0 for v in r["seconds"].values()) for r in timed)


def test_the_guides_figures_are_drawn_from_the_committed_results(tmp_path):
    """benchmarks.figures reads benchmarks/results and writes one PNG per chart; the
    guide shows the committed ones, so each must be there too."""
    import os

    from benchmarks import figures

    assert figures.main(["--out", str(tmp_path)]) == 0
    names = ["notebook.png", "backward.png", "first_run.png", "serve.png"]
    for name in names:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert os.path.exists(os.path.join(figures.FIGURES, name)), name


def test_ratio_plots_are_bars_where_a_group_has_one_size(tmp_path, monkeypatch):
    import os

    from benchmarks import plots

    drawn = []
    bars = plots.ratio_bars
    monkeypatch.setattr(
        plots,
        "ratio_bars",
        lambda ax, labels, ratios: (drawn.append(labels), bars(ax, labels, ratios)),
    )

    def row(group, name, elements, ratio):
        return dict(group=group, name=name, size=str(elements), elements=elements,
                    dtype="float64", ratio_vs_numpy=ratio)  # fmt: skip

    environment = {"cpu_count": 2, "numba": "0", "threading_layer": "omp"}
    payload = {
        "environment": environment,
        "rows": [row("model", f"row{k}", 209, 1.0 + k) for k in range(14)]
        + [row("linear", "a", n, 1.5) for n in (10, 100, 1000)],
    }
    paths = plots.write(payload, str(tmp_path))
    assert sorted(os.path.basename(p) for p in paths) == ["ratio_linear.png", "ratio_model.png"]
    assert len(drawn) == 1 and len(drawn[0]) == 14  # the model rows as bars; linear as lines


def test_compare_reads_the_ratios_of_each_run():
    from benchmarks.compare import compare

    def payload(fast, numpy):
        seconds = {"fastdnn": [fast, fast * 0.99, fast * 1.01], "numpy": [numpy] * 3}
        row = dict(name="r", size="s", dtype="float64", seconds=seconds)
        return {"rows": [dict(row, ratio_vs_numpy=numpy / fast)]}

    assert "faster" in compare(payload(2.0, 4.0), payload(1.0, 4.0))[0]
    # Slower, but NumPy slowed as much in that run: the machine drifted.
    assert "same" in compare(payload(1.0, 4.0), payload(1.3, 5.2))[0]
    assert "SLOWER" in compare(payload(1.0, 4.0), payload(1.3, 4.0))[0]
