"""Every code block of the README and the user guide runs, so the examples cannot drift.

Each Markdown file's blocks run in order in a fresh folder holding a small
``datasets/`` in the course's layout and a picture ``my_image.jpg``: ``python``
blocks in one namespace per file, ``bash`` blocks with this environment's
``fastdnn`` and ``python`` first on the PATH. ``text`` blocks are output shown to
the reader and are not run; any other language fails the test. The README's
set-up commands install from PyPI, which a test cannot: their install steps are
checked against pyproject.toml and ``.ci/run`` (which runs the test command
verbatim), and the demo they end with runs here.
"""

import contextlib
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import JIT_DISABLED

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + sorted(
    os.path.join("docs", f) for f in os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md")
)
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.M | re.S)

pytestmark = pytest.mark.skipif(JIT_DISABLED, reason="runs the examples at full size")


def blocks(page):
    """(language, code) of each fenced block of ``page``, in order, unindented."""
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        text = f.read()
    out = []
    for indent, language, body in FENCE.findall(text):
        lines = [line[len(indent) :] for line in body.splitlines()]
        out.append((language, "\n".join(lines) + "\n"))
    return out


@pytest.fixture
def folder(tmp_path):
    from PIL import Image

    from fastdnn.app.data import synthetic_catvnoncat, write_course_layout

    write_course_layout(tmp_path / "datasets", m_train=40, m_test=12)
    x, _ = synthetic_catvnoncat(1, seed=5)
    Image.fromarray(x[0]).resize((300, 240)).save(tmp_path / "my_image.jpg")
    return tmp_path


def _setup_command(code):
    """The README's set-up commands: venv, install from PyPI, then one command. Checks
    the install against pyproject.toml; returns the final command to run here (None
    for the test command, which CI runs verbatim)."""
    parts = [p.strip() for p in code.strip().split("&&")]
    assert parts[0] == "python3 -m venv .venv", code
    extras = re.fullmatch(r'\.venv/bin/pip install (?:-q )?(?:-e )?"\.\[(\w+)\]"', parts[1])
    assert extras, f"unexpected install step: {parts[1]}"
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        optional = f.read().split("[project.optional-dependencies]")[1].split("\n[")[0]
    assert re.search(rf"^{extras.group(1)} = ", optional, re.M), (
        f"no extra [{extras.group(1)}] in pyproject.toml"
    )
    if parts[2] == ".venv/bin/python -m pytest":
        with open(os.path.join(ROOT, ".ci", "run")) as f:
            assert code.strip() in f.read(), ".ci/run must run the README's test command verbatim"
        return None
    # The installed command, not ``python -m fastdnn``: run in the checkout, that would
    # import the checkout's sources (no compiled kernels) ahead of the installed package.
    assert not parts[2].startswith(".venv/bin/python -m fastdnn"), parts[2]
    return parts[2].replace(".venv/bin/", "")


def _bash(code, cwd):
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    # The benchmarks run from the repository's root (they are not installed).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    env.pop("NUMBA_DISABLE_JIT", None)
    r = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, (
        f"{code}\n--- stdout\n{r.stdout[-2000:]}\n--- stderr\n{r.stderr[-3000:]}"
    )
    return r.stdout


@pytest.mark.parametrize("page", PAGES)
def test_every_code_block_runs(page, folder, monkeypatch):
    monkeypatch.chdir(folder)
    namespace = {"__name__": "__docs__"}
    for k, (language, code) in enumerate(blocks(page)):
        if language == "text":
            continue
        if language == "python":
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(code, f"{page}, block {k + 1}", "exec"), namespace)
        elif language == "bash":
            if code.startswith("python3 -m venv"):
                command = _setup_command(code)
                if command is None:
                    continue
                code = command
            _bash(code, folder)
        else:
            pytest.fail(f"{page}, block {k + 1}: a ```{language} block (python, bash or text)")


def test_the_readme_is_short_and_links_the_guide():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    assert len(text) <= 6000, len(text)
    for page in PAGES[1:]:
        if page.endswith("index.md") or page.endswith("reference.md"):
            continue
        assert f"({page})" in text, f"README does not link {page}"


def test_the_figures_in_the_readme_are_the_committed_ones():
    """The README's table quotes benchmarks/results; each ratio must be there."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    results = ""
    for name in ("notebook.txt", "first_run.txt"):
        with open(os.path.join(ROOT, "benchmarks", "results", name), encoding="utf-8") as f:
            results += f.read()
    table = readme.split("| the application notebook's own code |")[1].split("\n\n")[0]
    ratios = re.findall(r"\| (\d+\.\d+)x \(", table)
    assert len(ratios) == 4
    for ratio in ratios:
        assert f"{ratio}x" in results, f"{ratio}x is not in the committed results"
    assert np.isfinite([float(r) for r in ratios]).all()
    # The int8 line quotes benchmarks/results/int8.txt.
    with open(os.path.join(ROOT, "benchmarks", "results", "int8.txt"), encoding="utf-8") as f:
        int8 = f.read()
    (ratio,) = re.findall(r"(\d+\.\d+)x ONNX Runtime", readme)
    assert "onnxruntime float32 (float32 X) " in int8 and f"({ratio}x)" in int8
