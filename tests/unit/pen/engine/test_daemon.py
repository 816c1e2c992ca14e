"""pen.engine.daemon's BEFORE_CHROOT: every module the engine imports inside a function is
either imported before the chroot (the jail holds no Python library: pen(1) -j) or made at
start-up, before the chroot, by daemon.start itself."""
from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pen.engine
from pen.engine import daemon

# imported inside daemon.start / prepare_workers, which run before drop_privileges_and_files,
# or already loaded by then (daemon itself, startup); their run-time uses only find them loaded
MADE_AT_START_UP = {"pen.engine.startup", "pen.engine.geoipdb", "pen.engine.dsr", "pen.engine.peers",
                    "pen.engine.worker", "pen.engine.workers", "pen.engine.daemon"}


def function_level_imports() -> set[str]:
    found = set()
    for path in Path(pen.engine.__file__).parent.glob("*.py"):
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    found |= {alias.name for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module:
                    # `from pen.engine import startup` loads a module; `from x import y`, x
                    for alias in node.names:
                        sub = f"{node.module}.{alias.name}"
                        found.add(sub if _is_module(sub) else node.module)
    return found


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ModuleNotFoundError, ValueError):
        return False


def test_every_lazy_engine_import_is_loaded_before_the_chroot() -> None:
    missing = function_level_imports() - set(daemon.BEFORE_CHROOT) - MADE_AT_START_UP
    assert not missing, f"imported inside an engine function after a chroot would fail: {missing}"


def test_the_list_names_real_modules() -> None:
    for name in daemon.BEFORE_CHROOT:
        importlib.import_module(name)
