"""Templates read without their indentation and the empty lines their tags leave
(app/admin/compact_markup.py): the same page, fewer bytes."""

from __future__ import annotations

from jinja2 import DictLoader, Environment

from app.admin.compact_markup import compact_pages, compacted

TEMPLATE = """<ul>
    {# one comment #}
    {% for item in items %}
        <li>{{ item }}</li>
    {% endfor %}
    {% if note %}
        <p>{{ note }}</p>
    {% endif %}
    {% set options = {"a": 1} %}
    <p>{% if items %}some{% endif %} text</p>
</ul>
<pre>
    kept  as
        written
</pre>
"""


def rendered(compact: bool, **values: object) -> str:
    env = Environment(loader=DictLoader({"page.html": TEMPLATE}), autoescape=True)
    if compact:
        compact_pages(env)
    return env.get_template("page.html").render(**values)


def test_a_page_reads_the_same_without_indentation_and_the_lines_tags_leave() -> None:
    values = {"items": ["one", "two"], "note": "hello"}
    whole, small = rendered(False, **values), rendered(True, **values)

    # The `set` with a dict in it is left as written, so its line stays (empty).
    assert small == (
        "<ul>\n<li>one</li>\n<li>two</li>\n<p>hello</p>\n\n<p>some text</p>\n</ul>\n"
        "<pre>\n    kept  as\n        written\n</pre>"
    )
    assert " ".join(whole.split()) == " ".join(small.split())  # what a browser shows


def test_only_a_tag_alone_on_its_line_trims_its_newline() -> None:
    assert compacted("x.html", "{% if a %}\n") == "{% if a -%}\n"
    assert compacted("x.html", "    {%- endif %}\n") == "{%- endif -%}\n"
    assert compacted("x.html", "{# note #}\n") == "{# note -#}\n"
    for kept in ("{% if a %}x{% endif %}\n", "{% set a = {} %}\n", "{% raw %}\n", "a {{ b }}\n"):
        assert compacted("x.html", kept) == kept
    assert compacted("x.txt", "    {% if a %}\n") == "    {% if a %}\n"  # not a page
