"""Where penctl commands may make pen read or write files (issue 10, docs/security.md).

C pen 0.34.1 lets anyone who reaches the control port write any file pen's user can write
(`write FILE`, `log FILE`, `web_stats FILE` then `status`) and read any file (`include FILE`,
whose error reply even quotes the file's first word; penctl(1) COMMANDS).  As root that is
the whole machine.  pen-ha confines those four commands at run time:

* What pen was started with is trusted: the -F, -l and -w files, and every file named by a
  `write`/`log`/`web_stats`/`include` command of -o/-O or the -F file at start-up, stay
  allowed (so a SIGHUP re-read of an unchanged -F file keeps working).
* At run time (the control port, and -F re-read on SIGHUP) a path must be one of those files
  or lie inside an allowed directory: the `--confine DIR` / `confine_dir DIR` directories when
  any are given, otherwise the directories of the start-up files.  Nothing given at all means
  no directory is allowed.
* Paths are compared after resolving symbolic links (the engine passes os.path.realpath), so a
  link inside an allowed directory cannot point out of it.

Pure: the caller passes the function that resolves a path; this module never opens a file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

COMMANDS = ("write", "log", "web_stats", "include")

Resolve = Callable[[str], str]


class ConfineError(ValueError):
    """A path a run-time command may not touch; the message names it and the allowed places."""


def inside(path: str, directory: str) -> bool:
    """Is the (resolved, absolute) `path` `directory` itself or below it?"""
    directory = directory.rstrip("/") or "/"
    if directory == "/":
        return path.startswith("/")
    return path == directory or path.startswith(directory + "/")


@dataclass(slots=True)
class Confinement:
    dirs: list[str] = field(default_factory=list)       # --confine / confine_dir, explicit
    learned: list[str] = field(default_factory=list)    # directories of the start-up files
    files: list[str] = field(default_factory=list)      # the start-up files themselves

    def allowed_dirs(self) -> list[str]:
        return self.dirs or self.learned

    def add_dir(self, directory: str) -> None:
        if directory not in self.dirs:
            self.dirs.append(directory)

    def learn(self, path: str, resolve: Resolve) -> None:
        """A file named at start-up: trust it, and (by default) its directory."""
        if not path:
            return
        real = resolve(path)
        if real not in self.files:
            self.files.append(real)
        parent = os.path.dirname(real) or "/"
        if parent not in self.learned:
            self.learned.append(parent)

    def permits(self, path: str, resolve: Resolve) -> bool:
        real = resolve(path)
        if real in self.files:
            return True
        return any(inside(real, resolve(d)) for d in self.allowed_dirs())

    def check(self, what: str, path: str, resolve: Resolve) -> None:
        if not self.permits(path, resolve):
            where = ", ".join(self.allowed_dirs()) or "none"
            raise ConfineError(f"{what} {path}: refused, outside the directories pen may use "
                               f"at run time ({where}); see --confine in docs/security.md")
