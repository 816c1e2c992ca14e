"""webstats.markup: HTML is a type; everything else is escaped when combined with it."""
from __future__ import annotations

import pytest

from webstats.app import _html
from webstats.markup import EMPTY, Markup, escape, html
from webstats.page import message_page

EVIL = "\"'><script>alert(1)</script>&amp;"


def test_data_is_escaped_by_default_everywhere_it_meets_markup() -> None:
    quoted = "&quot;&#x27;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;amp;"
    assert escape(EVIL) == quoted and isinstance(escape(EVIL), Markup)
    assert html('<a title="{}">{}</a>', EVIL, EVIL) == f'<a title="{quoted}">{quoted}</a>'
    assert Markup("<b>") + EVIL == "<b>" + quoted
    assert EVIL + Markup("<b>") == quoted + "<b>"
    assert Markup("<br>").join([EVIL, Markup("<i>x</i>")]) == quoted + "<br><i>x</i>"
    assert isinstance(Markup("<b>") + EVIL, Markup) and isinstance(EMPTY.join([]), Markup)


def test_markup_is_not_escaped_twice_and_numbers_keep_their_format() -> None:
    inner = html("<i>{}</i>", "&")
    assert html("<b>{}</b>", inner) == "<b><i>&amp;</i></b>"
    assert escape(inner) is inner
    assert html("{:5.1f}|{}|{}", 2.25, 7, None) == "  2.2|7|"
    assert html("{}", True) == "True"


def test_html_responses_take_only_markup() -> None:
    assert _html("200 OK", message_page("t", EVIL, "/b")).status == "200 OK"
    with pytest.raises(TypeError):
        _html("200 OK", "<p>a plain string</p>")       # type: ignore[arg-type]
    page = message_page(EVIL, EVIL, '"/x')
    assert "<script>" not in page and 'href="&quot;/x/"' in page
