"""The cost curve as a PNG (matplotlib is an optional extra: ``fastdnn[plot]``)."""

import numpy as np

from .._internal.atomic import open_output


def plot_costs(costs, learning_rate, path):
    """Save the course's cost plot (cost per hundred iterations) to ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'fastdnn[plot]'") from None
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(np.squeeze(np.asarray(costs, dtype=float)))
    ax.set_ylabel("cost")
    ax.set_xlabel("iterations (per hundreds)")
    ax.set_title("Learning rate =" + str(learning_rate))
    fig.tight_layout()
    with open_output(path, "wb", ".png.tmp") as fh:
        fig.savefig(fh, format="png", dpi=100)
    plt.close(fig)
    return path
