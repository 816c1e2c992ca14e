"""pen.core.confine and its use by the interpreter (issue 10), with a fake resolver."""
from __future__ import annotations

import posixpath

from support.control import make

from pen.core.confine import Confinement, inside
from pen.settings import Settings

LINKS = {"/srv/pen/out": "/etc"}


def resolve(path: str) -> str:
    path = posixpath.normpath(path)
    for link, target in LINKS.items():
        if path == link or path.startswith(link + "/"):
            return target + path[len(link):]
    return path


def test_inside() -> None:
    assert inside("/srv/pen/a", "/srv/pen") and inside("/srv/pen", "/srv/pen/")
    assert not inside("/srv/penx/a", "/srv/pen") and inside("/x", "/")


def test_learned_directories_files_and_explicit_dirs() -> None:
    c = Confinement()
    assert not c.permits("/srv/pen/a.cfg", resolve)            # nothing given: nothing allowed
    c.learn("/srv/pen/pen.cfg", resolve)
    c.learn("/var/log/pen.log", resolve)
    assert c.permits("/srv/pen/new.cfg", resolve) and c.permits("/var/log/x", resolve)
    assert not c.permits("/srv/pen/../../etc/passwd", resolve)
    assert not c.permits("/srv/pen/out/passwd", resolve)       # a symlink out of the directory
    c.add_dir("/data")
    assert c.permits("/data/x", resolve) and not c.permits("/srv/pen/new.cfg", resolve)
    assert c.permits("/srv/pen/pen.cfg", resolve)              # start-up files stay allowed


def test_interpreter_refuses_at_run_time_and_learns_at_start_up() -> None:
    s = Settings(config_file="/srv/pen/pen.cfg")
    s.confine.dirs = ["/none"]
    interp, fx = make(s, running=False)
    interp.state.settings.confine.dirs = []
    interp.resolve_path = resolve
    assert interp.run("log /var/log/pen.log").error is None    # start-up: trusted, learned
    interp.running = True
    for line in ("write /etc/x", "log /etc/x", "web_stats /etc/x", "include /etc/passwd",
                 "write /srv/pen/out/x"):
        r = interp.run(line)
        assert r.text.startswith("error: ") and "refused" in r.error, line
    assert fx.written == {} and fx.log_target == "/var/log/pen.log"
    assert interp.run("write /var/log/w.cfg").error is None and "/var/log/w.cfg" in fx.written
    assert interp.run("log 127.0.0.1:10514").error is None     # network log: not a file
    assert interp.run("confine_dir /").text.startswith("error: ")
