#!/usr/bin/env python3
"""webstats as a CGI program: `PEN_CONTROL=ADDR` in the environment, the request in the CGI
variables, the page on stdout (RFC 3875), through wsgiref.handlers.CGIHandler.

Install by pointing the web server at this file (or a copy whose interpreter can import
webstats); see docs/webstats.md.  The `cgi` module of the standard library is not used (it is
deprecated and removed in Python 3.13).
"""
from __future__ import annotations

import os
import sys

if __name__ == "__main__" and sys.path and os.path.abspath(sys.path[0]) == \
        os.path.dirname(os.path.abspath(__file__)):
    # run as a script: this folder would shadow the standard library's `cgi`; import
    # webstats from the folder above instead
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from wsgiref.handlers import CGIHandler  # noqa: E402

from webstats.app import application  # noqa: E402


def main() -> None:
    CGIHandler().run(application)


if __name__ == "__main__":
    main()
