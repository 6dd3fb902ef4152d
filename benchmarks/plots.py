"""PNG plots of fastdnn's speed ratio against the NumPy reference, by size (matplotlib, optional)."""

import os
from collections import defaultdict

from fastdnn._internal.atomic import open_output


def write(payload, folder):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("# plots skipped: matplotlib is not installed (pip install 'fastdnn[bench]')")
        return []
    by_group = defaultdict(list)
    for row in payload["rows"]:
        by_group[row["group"]].append(row)
    paths = []
    for group, rows in by_group.items():
        fig, ax = plt.subplots(figsize=(8, 5))
        series = defaultdict(list)
        for row in rows:
            series[(row["name"], row["dtype"])].append((row["elements"], row["ratio_vs_numpy"]))
        for (name, dtype), points in sorted(series.items()):
            points.sort()
            ax.plot(
                [p[0] for p in points],
                [p[1] for p in points],
                marker="o",
                linestyle="-" if dtype == "float64" else "--",
                label=f"{name} ({dtype})",
            )
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("size (elements; multiply-adds for linear rows; m for model rows)")
        ax.set_ylabel("speed-up over NumPy reference (x)")
        env = payload["environment"]
        ax.set_title(
            f"fastdnn / NumPy: {group} ({env['cpu_count']} cores, numba {env['numba']}, {env['threading_layer']})",
            fontsize=9,
        )
        ax.legend(fontsize=7, loc="best")
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        path = os.path.join(folder, f"ratio_{group}.png")
        with open_output(path, "wb", ".png.tmp") as fh:
            fig.savefig(fh, format="png", dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths
