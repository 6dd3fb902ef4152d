"""The wheel build's one addition to setuptools: the kernels, compiled (issue #31).

``build_py`` copies the sources, then runs ``fastdnn._build_kernels`` on
the copy, which compiles every kernel for the CPU levels in
``FASTDNN_KERNEL_LEVELS`` (default ``all``; ``none`` skips it) into
``fastdnn/_compiled``. The wheel is then specific to this Python and platform
(``cp311-cp311-linux_x86_64``, ...): its kernels are. An editable install
compiles nothing here; its kernels compile on first use, as before.
"""

import os
import shutil
import subprocess
import sys

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py


class BuildWithKernels(build_py):
    def run(self):
        # A build folder left by an earlier build would add its stale files to the wheel.
        shutil.rmtree(os.path.join(self.build_lib, "fastdnn"), ignore_errors=True)
        super().run()
        levels = os.environ.get("FASTDNN_KERNEL_LEVELS", "all")
        if self.editable_mode or levels == "none":
            return
        out = os.path.join(os.path.abspath(self.build_lib), "fastdnn", "_compiled")
        subprocess.run(
            [sys.executable, "-m", "fastdnn._build_kernels", out, "--levels", levels],
            cwd=self.build_lib,  # the copied sources: the kernels are keyed on their content
            check=True,
        )


class PlatformDistribution(Distribution):
    def has_ext_modules(self):
        return True  # numba's cache files are for one Python, one platform: tag the wheel so


setup(cmdclass={"build_py": BuildWithKernels}, distclass=PlatformDistribution)
