"""fastdnn's version: one source, read by the package root, the build (``pyproject.toml``)
and every module that records it (model files, ``fastdnn info``, the server's metadata)."""

__version__ = "0.1.0"
