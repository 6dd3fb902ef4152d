"""``examples/cat_vs_noncat.ipynb`` runs top to bottom in a real Jupyter kernel.

Fewer iterations than the course's 2500 (``FASTDNN_EXAMPLE_ITERATIONS``, which the
notebook reads), on fastdnn's synthetic stand-in for the course's images. Any error
fails the test, and so does any output on stderr but fastdnn's one-time compile
notice (a kernel's stderr is where a warning would show).
"""

import os
import re

import pytest

from conftest import JIT_DISABLED

nbformat = pytest.importorskip("nbformat", reason="the test extra installs nbformat")
nbclient = pytest.importorskip("nbclient", reason="the test extra installs nbclient")
pytest.importorskip("ipykernel", reason="the test extra installs ipykernel")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, "examples", "cat_vs_noncat.ipynb")
EXPECTED_STDERR = re.compile(r"fastdnn: compiling \d+ kernels for this CPU.*later runs load them")


@pytest.mark.skipif(JIT_DISABLED, reason="trains the course's networks")
def test_the_example_notebook_runs_in_a_kernel(tmp_path, monkeypatch):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv("FASTDNN_EXAMPLE_ITERATIONS", "101")
    monkeypatch.setenv("FASTDNN_EXAMPLE_DATA", str(tmp_path / "datasets"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.delenv("NUMBA_DISABLE_JIT", raising=False)
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError on any error
    stderr, stdout = [], []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                (stderr if output["name"] == "stderr" else stdout).append(output["text"])
    unexpected = [t for t in stderr if not EXPECTED_STDERR.search(" ".join(t.split()))]
    assert not unexpected, unexpected
    text = "".join(stdout)
    assert text.count("Accuracy: ") == 5  # two models x two sets, and the picture's
    assert "Cost after iteration 100:" in text and "same labels as predict: True" in text
    assert "your L-layer model predicts" in text
    assert (tmp_path / "cat_model.h5").exists()
