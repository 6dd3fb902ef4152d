"""PNG plots of fastdnn's speed ratio against the NumPy reference (matplotlib, optional).

One figure per group of rows (``ratio_<group>.png``). A group whose series each have one
or two sizes (the model rows: the cat network at m = 209 and 2048) is a horizontal bar
chart, one bar per row, size and dtype, its ratio printed on it: a line through two
points on a log axis says less than two bars. A group measured at three sizes or more is
a line per series against size, each series with its own colour and marker. The guide's own
figures, drawn from the committed results, are ``benchmarks.figures``.
"""

import os
from collections import defaultdict

from fastdnn._internal.atomic import open_output

MARKERS = "osD^v<>ph*X"


def pyplot():
    """matplotlib's pyplot on the Agg backend, or None (with a line saying so) when absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("# plots skipped: matplotlib is not installed (pip install 'fastdnn[bench]')")
        return None
    return plt


def save(fig, path):
    """Write ``fig`` to ``path`` as a PNG, atomically; closes it."""
    with open_output(path, "wb", ".png.tmp") as fh:
        fig.savefig(fh, format="png", dpi=90)
    fig.clf()
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def ratio_bars(ax, labels, ratios):
    """Horizontal bars of speed-ups over NumPy, the value printed at each bar's end."""
    y = range(len(labels))
    colours = ["tab:green" if r >= 1 else "tab:red" for r in ratios]
    ax.barh(list(y), ratios, color=colours)
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.invert_yaxis()
    for k, r in enumerate(ratios):
        ax.text(r, k, f" {r:.2f}x", va="center", fontsize=7)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("speed-up over the NumPy reference (x; 1 = as fast)")
    ax.set_xlim(0, max(ratios) * 1.18)


def write(payload, folder):
    plt = pyplot()
    if plt is None:
        return []
    by_group = defaultdict(list)
    for row in payload["rows"]:
        by_group[row["group"]].append(row)
    env = payload["environment"]
    machine = f"{env['cpu_count']} cores, numba {env['numba']}, {env['threading_layer']}"
    paths = []
    for group, rows in by_group.items():
        series = defaultdict(list)
        for row in rows:
            series[(row["name"], row["dtype"])].append((row["elements"], row["ratio_vs_numpy"]))
        if all(len(points) <= 2 for points in series.values()):
            labels = [f"{row['name']} {row['size']} {row['dtype']}" for row in rows]
            fig, ax = plt.subplots(figsize=(8, 0.8 + 0.28 * len(rows)))
            ratio_bars(ax, labels, [row["ratio_vs_numpy"] for row in rows])
        else:
            fig, ax = plt.subplots(figsize=(8, 5))
            colours = plt.get_cmap("tab20").colors
            for k, ((name, dtype), points) in enumerate(sorted(series.items())):
                points.sort()
                ax.plot(
                    [p[0] for p in points],
                    [p[1] for p in points],
                    marker=MARKERS[k % len(MARKERS)],
                    color=colours[k % len(colours)],
                    linestyle="-" if dtype == "float64" else "--",
                    label=f"{name} ({dtype})",
                )
            ax.axhline(1.0, color="black", linewidth=0.8)
            ax.set_xscale("log")
            ax.set_xlabel("size (elements; multiply-adds for linear rows)")
            ax.set_ylabel("speed-up over the NumPy reference (x)")
            ax.legend(fontsize=7, loc="best")
            ax.grid(True, which="both", alpha=0.3)
        ax.set_title(f"fastdnn / NumPy: {group} ({machine})", fontsize=9)
        fig.tight_layout()
        paths.append(save(fig, os.path.join(folder, f"ratio_{group}.png")))
    return paths
