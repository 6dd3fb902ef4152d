"""The guide's figures, drawn from the committed results only (matplotlib).

Reads ``benchmarks/results/*.json`` and writes bar charts to ``docs/figures/``, which the
Benchmarks page shows. Nothing is measured here: after committing new results, run::

    python -m benchmarks.figures

- ``notebook.png``: the notebook's two loops, ms per iteration, NumPy against fastdnn now
  and, where ``notebook_before.json`` is committed, fastdnn before the last round of work.
- ``backward.png``: the cat network's backward pass per call (``backward.json``, and
  ``backward_before.json`` where committed).
- ``first_run.png``: the whole notebook, cold and warm, wheel against source install.
- ``serve.png``: ``fastdnn serve`` and the other servers at 64 clients, requests per second.
"""

import argparse
import json
import os
import sys

import numpy as np

from .plots import pyplot, save

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
FIGURES = os.path.join(HERE, "..", "docs", "figures")
COLOURS = {"numpy": "tab:gray", "before": "tab:orange", "fastdnn": "tab:blue"}
BEFORE_NOTE = (
    "Each run alternates its contenders. 'fastdnn before': the committed run before the last round "
    "of work (*_before.json); every ratio is against the newest run's NumPy time."
)


def _load(folder, name):
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def grouped_bars(plt, title, groups, series, unit, note="", faster="shorter"):
    """One cluster of horizontal bars per group: ``series`` is a list of
    (label, colour, values) with one value per group (None: no bar). Each bar is
    labelled with its value, and, after the first series, its speed-up over the first."""
    fig, ax = plt.subplots(figsize=(8.5, 1.0 + 0.32 * len(groups) * len(series)))
    height = 0.8 / len(series)
    base = series[0][2]
    top = max(v for _, _, values in series for v in values if v is not None)
    for k, (label, colour, values) in enumerate(series):
        y = [g + (k - (len(series) - 1) / 2) * height for g in range(len(groups))]
        shown = [(yy, v, b) for yy, v, b in zip(y, values, base, strict=True) if v is not None]
        ax.barh(
            [s[0] for s in shown], [s[1] for s in shown], height * 0.92, color=colour, label=label
        )
        for yy, v, b in shown:
            number = f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
            speedup = (b / v if faster == "shorter" else v / b) if k and b else None
            text = f" {number} {unit}" + (f"  ({speedup:.2f}x)" if speedup else "")
            ax.text(v, yy, text, va="center", fontsize=7)
    ax.set_yticks(range(len(groups)), groups, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, top * 1.35)
    ax.set_xlabel(f"{unit} ({faster} is faster)")
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7, loc="lower right")
    if note:
        fig.text(0.01, 0.01, note, fontsize=6.5, color="dimgray")
    fig.tight_layout(rect=(0, 0.03 if note else 0, 1, 1))
    return fig


def _median(values):
    return float(np.median(values))


def before_after(results, name, key, value):
    """(groups, series) for a grouped bar chart of ``name``.json's rows, NumPy against
    fastdnn, with fastdnn of ``name``_before.json between them where it is committed:
    ``key(row)`` names a row, ``value(row, seconds)`` is a contender's figure. None where
    ``name``.json is not committed."""
    now, before = _load(results, f"{name}.json"), _load(results, f"{name}_before.json")
    if now is None:
        return None
    keys = [key(row) for row in now["rows"]]
    figures = {
        which: {
            key(row): {k: value(row, _median(v)) for k, v in row["seconds"].items()}
            for row in data["rows"]
        }
        for which, data in (("now", now), ("before", before))
        if data
    }
    series = [
        ("NumPy (the course's code)", COLOURS["numpy"], [figures["now"][k]["numpy"] for k in keys])
    ]
    if "before" in figures:
        old = figures["before"]
        series.append(
            ("fastdnn before", COLOURS["before"], [old.get(k, {}).get("fastdnn") for k in keys])
        )
    series.append(("fastdnn", COLOURS["fastdnn"], [figures["now"][k]["fastdnn"] for k in keys]))
    return [" ".join(k) for k in keys], series


def notebook(plt, results, out):
    chart = before_after(
        results,
        "notebook",
        lambda row: (row["loop"], row["dtype"]),
        lambda row, seconds: seconds / row["iterations"] * 1e3,
    )
    if chart is None:
        return None
    groups, series = chart
    fig = grouped_bars(
        plt,
        "The notebook's loops, ms per iteration (cat data, 2500 iterations, medians of 3 runs)",
        groups,
        series,
        "ms",
        BEFORE_NOTE if len(series) == 3 else "",
    )
    return save(fig, os.path.join(out, "notebook.png"))


def backward(plt, results, out):
    chart = before_after(
        results, "backward", lambda row: (row["row"], row["dtype"]), lambda row, s: s * 1e3
    )
    if chart is None:
        return None
    groups, series = chart
    fig = grouped_bars(
        plt,
        "The cat network's backward pass, ms per call (m = 209, medians of alternating rounds)",
        groups,
        series,
        "ms",
        BEFORE_NOTE if len(series) == 3 else "",
    )
    return save(fig, os.path.join(out, "backward.png"))


def first_run(plt, results, out):
    data = _load(results, "first_run.json")
    row = next((r for r in (data or {}).get("rows", []) if r.get("row") == "notebook"), None)
    if row is None:
        return None
    order = ["numpy", "source cold", "source warm", "wheel cold", "wheel warm"]
    seconds = [_median(row["seconds"][k]) for k in order if k in row["seconds"]]
    labels = [k for k in order if k in row["seconds"]]
    fig = grouped_bars(
        plt,
        "The application notebook top to bottom, seconds (fresh processes, empty numba cache when cold)",
        labels,
        [("seconds", COLOURS["fastdnn"], seconds)],
        "s",
    )  # fmt: skip
    return save(fig, os.path.join(out, "first_run.png"))


def serve(plt, results, out):
    data = _load(results, "serve.json")
    if data is None:
        return None
    rows = [r for r in data["rows"] if "requests_per_s" in r and r.get("clients") == 64]
    labels = [f"{r['contender']}, {r['body']} ({r.get('model', '')})" for r in rows]
    fig = grouped_bars(
        plt,
        "Servers under load, 64 clients: requests per second (one example per request)",
        labels,
        [("requests/s", COLOURS["fastdnn"], [r["requests_per_s"] for r in rows])],
        "requests/s",
        faster="longer",
    )  # fmt: skip
    return save(fig, os.path.join(out, "serve.png"))


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.figures", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--results", default=RESULTS, help="folder of the committed results")
    parser.add_argument("--out", default=FIGURES, help="folder for the PNG figures")
    args = parser.parse_args(argv)
    plt = pyplot()
    if plt is None:
        return 1
    os.makedirs(args.out, exist_ok=True)
    for draw in (notebook, backward, first_run, serve):
        path = draw(plt, args.results, args.out)
        print(f"# {draw.__name__}: {path or 'no committed results'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
