"""Render a results.json as a Markdown table: ``python -m benchmarks.report results.json``."""

import json
import sys


def render(payload):
    env = payload["environment"]
    lines = [
        f"# fastdnn benchmark results ({payload['mode']}, {payload['repeats']} repeats)",
        "",
        "Median time per call; ratio = NumPy reference time / fastdnn time (above 1: fastdnn is faster).",
        "Peers in parentheses: their time and fastdnn's speed-up over them.",
        "Model rows (L_model_*, notebook_step, trainer_step, predict_proba) take X in the course's layout",
        "(Fortran order, as reshape(m, -1).T gives). predict_proba rows: the NumPy reference is the",
        "course's float64 L_model_forward for both dtypes (the issue's baseline). notebook_step: the",
        "notebook's L_layer_model loop with each side's functions; nothing reads dA0, which NumPy's",
        "L_model_backward computes and fastdnn's does not (not the same work: L_model_backward is).",
        "trainer_step: fastdnn's",
        "trainer against a NumPy loop doing the trainer's work (no dA0, cost every 100 steps).",
        "",
        "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()),
        "",
        "| row | size | dtype | fastdnn | NumPy | ratio | peers |",
        "| --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for row in payload["rows"]:
        s = row["seconds"]
        fast = s["fastdnn"][0]
        peers = ", ".join(
            f"{k} {v[0] * 1e3:.3f} ms ({v[0] / fast:.2f}x)"
            for k, v in s.items()
            if k not in ("fastdnn", "numpy")
        )
        if "gflops" in row:
            peers += f"; fastdnn {row['gflops']:.1f} GFLOP/s"
        lines.append(
            f"| {row['name']} | {row['size']} | {row['dtype']} | {fast * 1e3:.4f} ms | {s['numpy'][0] * 1e3:.4f} ms | {row['ratio_vs_numpy']:.2f} | {peers} |"
        )
    sections = {
        "compile": "Compile and import",
        "threads": "Thread scaling",
        "spinning": "BLAS / numba spinning",
        "peak": "Practical peak (NumPy BLAS, 2048^3 product)",
        "idle": "predict_proba latency after 200 ms idle (ms)",
        "fresh": "ReLU 4096 x 4096 float64: fresh output pages against an output in memory (ms)",
    }
    for key, title in sections.items():
        if key in payload.get("extras", {}):
            lines += [
                "",
                f"## {title}",
                "",
                "```",
                json.dumps(payload["extras"][key], indent=1),
                "```",
            ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        sys.stdout.write(render(json.load(f)))
