"""Compare two runs of ``python -m benchmarks`` row by row (before and after a change).

Usage::

    python -m benchmarks.compare BEFORE/results.json AFTER/results.json [...more pairs]

For every row in both runs: fastdnn's median time and spread before and after, and its
ratio against the NumPy reference *in each run*. Runs made one after the other on a shared
machine drift (the NumPy side of a row can move by 20-30%), so the verdict reads the ratios:
"slower" only where the ratio fell by more than ``--tolerance`` (default 10%) and the
spreads do not overlap.
"""

import argparse
import json
import sys


def compare(before, after, tolerance=0.10):
    """Lines of the row-by-row comparison of two ``results.json`` payloads."""
    old = {(r["name"], r["size"], r["dtype"]): r for r in before["rows"]}
    lines = []
    for row in after["rows"]:
        key = (row["name"], row["size"], row["dtype"])
        if key not in old:
            continue
        b, a = old[key]["seconds"]["fastdnn"], row["seconds"]["fastdnn"]
        rb, ra = old[key]["ratio_vs_numpy"], row["ratio_vs_numpy"]
        if a[2] < b[1]:
            verdict = "faster"
        elif a[1] > b[2] and ra < rb * (1 - tolerance):
            verdict = "SLOWER"
        else:
            verdict = "same (within the spread or the run's drift)"
        lines.append(
            f"{key[0]:38} {key[1]:24} {key[2]:7} "
            f"{b[0] * 1e3:9.3f} -> {a[0] * 1e3:9.3f} ms  "
            f"ratio {rb:5.2f} -> {ra:5.2f}  {verdict}"
        )
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare")
    parser.add_argument("files", nargs="+", help="pairs of results.json: before after ...")
    parser.add_argument("--tolerance", type=float, default=0.10)
    args = parser.parse_args(argv)
    if len(args.files) % 2:
        parser.error("give results.json files in pairs: before after")
    print(f"{'row':38} {'size':24} {'dtype':7} fastdnn before -> after, ratio vs NumPy in each run")
    for before, after in zip(args.files[::2], args.files[1::2], strict=True):
        with open(before, encoding="utf-8") as fb, open(after, encoding="utf-8") as fa:
            print("\n".join(compare(json.load(fb), json.load(fa), args.tolerance)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
