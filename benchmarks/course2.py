"""Course 2's notebooks: their training loops with the course's NumPy helpers or fastdnn's.

Each row runs one notebook's ``model`` loop as the notebook writes it
(``fastdnn.improving.reference.notebooks``: forward, cost, backward, update every
iteration) three ways, alternating in blocks with a pause, medians over repeats:

* ``numpy``: on the course's helper modules and graded functions (plain NumPy);
* ``swap``: the same loop on fastdnn's modules (``from fastdnn.regularization import *``
  instead of ``from reg_utils import *``: only the imports swapped);
* ``model``: fastdnn's ``model(...)`` of that notebook (the whole loop compiled).

All three do the same work (the same iterations, costs computed every iteration, the
same prints, which are captured) and must print the same lines, checked before timing.

Usage::

    python -m benchmarks --only course2           # 3000 iterations / 300 epochs a run
    python -m benchmarks --only course2 --full    # the notebooks' own counts
    python -m benchmarks.course2 --plot docs/img/course2.png   # the guide's chart
"""

import argparse
import contextlib
import io
import os
import time

import numpy as np

from fastdnn import initialization as FI
from fastdnn import optimization as FO
from fastdnn import regularization as FR
from fastdnn.improving.reference import init_utils as I
from fastdnn.improving.reference import notebooks as N
from fastdnn.improving.reference import opt_utils as O
from fastdnn.improving.reference import reg_utils as R

DATA_MAT = os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "data", "course2", "data.mat"
)
PAUSE = 0.3
"""Seconds before each block: idle BLAS and numba workers spin for ~0.3 s after a call."""


def _rows(full):
    """(notebook, setting, numpy loop, swapped loop, compiled model) per row."""
    n_init, n_reg, n_epochs = (15000, 30000, 5000) if full else (3000, 3000, 300)
    X, Y, _, _ = I.load_dataset()
    rows = []
    for init in ("zeros", "random", "he"):
        kw = dict(num_iterations=n_init, initialization=init)
        rows.append(
            (
                "Initialization", f"{init}, {n_init} iterations",
                lambda kw=kw: N.initialization_model(I, X, Y, **kw),
                lambda kw=kw: N.initialization_model(FI, X, Y, **kw),
                lambda kw=kw: FI.model(X, Y, plot_costs=False, **kw),
            )
        )  # fmt: skip
    if os.path.exists(DATA_MAT):
        Xr, Yr, _, _ = R.load_2D_dataset(DATA_MAT)
        for name, extra in (("none", {}), ("L2", {"lambd": 0.7}), ("dropout", {"keep_prob": 0.86})):
            kw = dict(num_iterations=n_reg, **extra)
            rows.append(
                (
                    "Regularization", f"{name}, {n_reg} iterations",
                    lambda kw=kw: N.regularization_model(R, Xr, Yr, **kw),
                    lambda kw=kw: N.regularization_model(FR, Xr, Yr, **kw),
                    lambda kw=kw: FR.model(Xr, Yr, plot_costs=False, **kw),
                )
            )  # fmt: skip
    Xo, Yo = O.load_dataset()
    for optimizer in ("gd", "momentum", "adam"):
        kw = dict(num_epochs=n_epochs)
        args = (Xo, Yo, [2, 5, 2, 1], optimizer)
        rows.append(
            (
                "Optimization", f"{optimizer}, {n_epochs} epochs",
                lambda a=args, kw=kw: N.optimization_model(O, *a, **kw),
                lambda a=args, kw=kw: N.optimization_model(FO, *a, **kw),
                lambda a=args, kw=kw: FO.model(*a, plot_costs=False, **kw),
            )
        )  # fmt: skip
    return rows


def _quiet(f):
    with contextlib.redirect_stdout(io.StringIO()) as out, np.errstate(all="ignore"):
        f()
    return out.getvalue()


def _same_lines(got, want):
    """The same printed lines, numbers to 1e-9 relative (sums in another order)."""
    got, want = got.splitlines(), want.splitlines()
    if len(got) != len(want):
        return False
    for g, w in zip(got, want, strict=True):
        head_g, _, value_g = g.rpartition(" ")
        head_w, _, value_w = w.rpartition(" ")
        if head_g != head_w:
            return False
        if value_g != value_w and not np.isclose(float(value_g), float(value_w), rtol=1e-9):
            return False
    return True


def run(full=False, repeats=3, out=print):
    from .harness import _cpu_name

    out(f"# Course 2 notebooks' loops: CPU {_cpu_name()}; medians of {repeats} runs, seconds")
    out("# numpy: the notebook's loop on the course's helpers; swap: the same loop on fastdnn's")
    out("# (imports swapped); model: fastdnn's compiled model(). Ratios: numpy / fastdnn.")
    out(
        f"{'notebook':15} {'setting':28} {'numpy':>8} {'swap':>8} {'model':>8} {'swap x':>7} {'model x':>8}  same prints"
    )
    rows = []
    for notebook, setting, numpy_loop, swap_loop, model_loop in _rows(full):
        printed = {
            k: _quiet(f)
            for k, f in (("numpy", numpy_loop), ("swap", swap_loop), ("model", model_loop))
        }
        same = {k: _same_lines(printed[k], printed["numpy"]) for k in ("swap", "model")}
        chaotic = setting.startswith("random")  # randn * 10: rounding grows (tests/test_course2.py)
        times = {k: [] for k in ("numpy", "swap", "model")}
        order = list(times)
        for r in range(repeats):
            for name in order[r % 3 :] + order[: r % 3]:
                f = {"numpy": numpy_loop, "swap": swap_loop, "model": model_loop}[name]
                time.sleep(PAUSE)
                t = time.perf_counter()
                _quiet(f)
                times[name].append(time.perf_counter() - t)
        med = {k: float(np.median(v)) for k, v in times.items()}
        note = "yes" if all(same.values()) else ("first line (chaotic)" if chaotic else "NO")
        out(
            f"{notebook:15} {setting:28} {med['numpy']:8.3f} {med['swap']:8.3f} {med['model']:8.3f} "
            f"{med['numpy'] / med['swap']:7.2f} {med['numpy'] / med['model']:8.2f}  {note}"
        )
        rows.append(
            dict(
                notebook=notebook, setting=setting, seconds={k: v for k, v in times.items()},
                swap_ratio=med["numpy"] / med["swap"], model_ratio=med["numpy"] / med["model"],
                same_prints=note,
            )
        )  # fmt: skip
    return rows


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .harness import _cpu_name

    labels = [f"{r['notebook']}\n{r['setting'].split(',')[0]}" for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.bar(x - 0.2, [r["swap_ratio"] for r in rows], 0.4, label="imports swapped")
    ax.bar(x + 0.2, [r["model_ratio"] for r in rows], 0.4, label="fastdnn's model()")
    ax.axhline(1, color="black", linewidth=0.8)
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylabel("times faster than the course's NumPy")
    ax.set_title(f"Course 2 notebooks' training loops ({_cpu_name()}, 2 cores)", fontsize=9)
    ax.legend()
    fig.tight_layout()
    from fastdnn._internal.atomic import open_output

    with open_output(path, "wb", ".png.tmp") as fh:
        fig.savefig(fh, format="png", dpi=100)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.course2", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--full", action="store_true", help="the notebooks' own iteration counts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--plot", help="write the ratio chart (PNG) here")
    args = parser.parse_args(argv)
    rows = run(args.full, args.repeats)
    if args.plot:
        print(f"# plot: {plot(rows, args.plot)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
