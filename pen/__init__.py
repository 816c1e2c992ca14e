"""pen-ha: pen, the load balancer, reimplemented."""

from pen.version import C_PEN_VERSION

__all__ = ["C_PEN_VERSION", "__version__"]


def __getattr__(name: str) -> str:
    """`__version__`, read on first use (pen.version: importlib.metadata is slow to import)."""
    if name == "__version__":
        from pen.version import installed_version
        return installed_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
