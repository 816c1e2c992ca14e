"""The optional compiled hot path (scripts/compile.sh, docs/architecture.md): the modules it
names are really the compiled ones in a running pen, and code mypy rejects is refused with a
clear error instead of being compiled (mypyc trusts the annotations at run time).  The
behaviour itself is tested by the data, failover and algorithm suites, which run every test
with both builds (the `each_build` fixture)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.procs import Pen

ROOT = Path(__file__).resolve().parents[3]
COMPILE = ROOT / "scripts" / "compile.sh"


def compiled_modules() -> list[str]:
    """The modules scripts/compile.sh compiles, read from the script itself."""
    text = COMPILE.read_text()
    block = re.search(r"^modules=\((.*?)\)", text, re.S | re.M)
    assert block, "scripts/compile.sh has no modules=(...) list"
    return block.group(1).split()


def test_running_pen_runs_the_compiled_modules(compiled_tree, backends, monkeypatch) -> None:
    """pen started with the tree first on its path has mypyc's library mapped, and from that
    path every module compile.sh names imports as an extension module, not as Python."""
    (e,) = backends("echo", "e")
    monkeypatch.setenv("PEN_TEST_TREE", str(compiled_tree))
    with Pen(e.addr, workers=1) as pen:
        with pen.connect() as s:
            s.sendall(b"through the compiled path")
            assert s.recv(100) == b"through the compiled path"
        maps = Path(f"/proc/{pen.proc.pid}/maps").read_text()
    assert re.search(re.escape(str(compiled_tree)) + r"/\w+__mypyc\.cpython-[^/\s]*\.so", maps)
    modules = [str(Path(m).with_suffix("")).replace("/", ".") for m in compiled_modules()]
    assert len(modules) >= 3
    probe = ("import importlib, sys\n"
             "for name in sys.argv[1:]:\n"
             "    print(name, importlib.import_module(name).__file__)\n")
    r = subprocess.run([sys.executable, "-c", probe, *modules], capture_output=True, text=True,
                       cwd=compiled_tree.parent, env={**os.environ, "PYTHONPATH": str(compiled_tree)},
                       timeout=60)
    assert r.returncode == 0, r.stderr
    files = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    for name in modules:
        assert files[name].startswith(str(compiled_tree)) and files[name].endswith(".so"), \
            f"{name}: {files[name]}"


def test_pure_pen_maps_no_compiled_code(backends, monkeypatch) -> None:
    """Without the tree first on the path pen runs the pure-Python modules."""
    (e,) = backends("echo", "e")
    monkeypatch.delenv("PEN_TEST_TREE", raising=False)
    with Pen(e.addr, workers=1) as pen:
        with pen.connect() as s:
            s.sendall(b"pure")
            assert s.recv(100) == b"pure"
        maps = Path(f"/proc/{pen.proc.pid}/maps").read_text()
    assert "__mypyc" not in maps


@pytest.mark.slow
def test_compile_refuses_code_mypy_rejects(tmp_path) -> None:
    """A type error in a compiled module: the build stops and says which check to run."""
    tree = tmp_path / "src"
    (tree / "scripts").mkdir(parents=True)
    shutil.copy(COMPILE, tree / "scripts" / "compile.sh")
    shutil.copytree(ROOT / "pen", tree / "pen", ignore=shutil.ignore_patterns("__pycache__"))
    (tree / ".venv").symlink_to(ROOT / ".venv")
    reactor = tree / "pen" / "engine" / "reactor.py"
    reactor.write_text(reactor.read_text() + "\n\ndef broken() -> int:\n    return 'text'\n")
    out = tmp_path / "out"
    r = subprocess.run(["bash", str(tree / "scripts" / "compile.sh"), str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode != 0
    assert "pen/engine/reactor.py" in r.stderr and "mypyc failed" in r.stderr
    assert not out.exists()
