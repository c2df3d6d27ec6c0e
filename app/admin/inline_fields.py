"""An inline row's fields written here, not through the library's field templates: on the
parent's form (templates/admin/inline_rows.html) and on its page (templates/inline_detail.html).
Each field the template draws is an include with a fresh copy of the page's context; an
order's edit form with three items spent about 1 ms so (docs/architecture.md, "Page weight and
speed"). A plain input, a to-one relation picker, and on the page a text or a to-one relation's
link are written here with the same markup; any other field is drawn by its template still.

tests/admin/test_inline_rows.py renders both ways and compares them, so a library upgrade that
changes one of these templates shows up there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup, escape
from starlette_admin.fields import BaseField, RelationField

from app.admin.library import foreign_view

# starlette-admin 1.0.3's templates for the fields written here.
INPUT = "fields/form/input.html"
RELATION = "fields/form/relation.html"
TEXT_CELL = "fields/detail/text.html"
RELATION_CELL = "fields/detail/relation.html"


class InlineFields:
    """One formset's field writer: `fields(field, data, error)` gives a cell's markup.

    `classes` is the admin's `cls` (a component role to its CSS classes), `lookup_url` gives a
    view's relation-lookup address by the view's key, `included` draws a field by its template.
    """

    def __init__(
        self,
        inline: Any,
        classes: Callable[[str], str],
        lookup_url: Callable[[str], object],
        included: Callable[[BaseField, Any, Any], object],
    ) -> None:
        self.inline = inline
        self.classes = classes
        self.lookup_url = lookup_url
        self.included = included
        self._pickers: dict[str, tuple[str, str]] = {}  # relation name: (lookup url, key name)

    # The templates written here; the tests empty it to draw every field by its template.
    written: ClassVar[frozenset[str]] = frozenset({INPUT, RELATION})

    def __call__(self, field: BaseField, data: Any, error: Any) -> Markup:
        template = field.form_template
        if template not in self.written:
            return Markup(self.included(field, data, error))
        if template == RELATION and isinstance(field, RelationField):
            return self.picker(field, data, error)
        if template == INPUT:
            return self.input(field, data, error)
        return Markup(self.included(field, data, error))

    def input(self, field: BaseField, data: Any, error: Any) -> Markup:
        id_ = escape(field.id)
        value = escape("" if data is None else data)
        wrong = self._wrong(field, error)
        return Markup(
            f'<div class="{wrong}"><input id="{id_}" name="{id_}"'
            f' class="{escape(self.classes(getattr(field, "class_", "")))} {wrong}" value="{value}"'
            f"{self._described(field, error)} {field.input_params()} />"
            f"{self._help(field, 'form-hint')}</div>{self._error_note(field, error)}"
        )

    def picker(self, field: RelationField, data: Any, error: Any) -> Markup:
        id_ = escape(field.id)
        url, key = self._picker(field)
        wrong = self._wrong(field, error)
        # The template asks `field.many`, which no field of the library's has.
        kind = "field-has-many" if getattr(field, "many", False) else "field-has-one"
        initial = ""
        if data:
            chosen = htmlsafe_json_dumps(data if field.multiple else [data], sort_keys=True)
            initial = f' data-initial="{escape(str(chosen))}"'
        return Markup(
            f'<div class="{wrong}"><select data-allow-clear="true"'
            f' data-placeholder="Select {id_}" id="{id_}" name="{id_}"'
            f'{self._described(field, error)} class="form-control {kind} {wrong}"'
            f' data-url="{escape(url)}" data-pk="{escape(key)}"{initial}'
            f"{' multiple' if field.multiple else ''}></select>"
            f"{self._help(field, 'form-hint mt-2')}</div>{self._error_note(field, error)}"
        )

    def _picker(self, field: RelationField) -> tuple[str, str]:
        found = self._pickers.get(field.name)
        if found is None:
            view = foreign_view(self.inline, str(field.key))
            found = (str(self.lookup_url(str(view.key))).strip(), str(view.pk_attr))
            self._pickers[field.name] = found
        return found

    def _wrong(self, field: BaseField, error: Any) -> str:
        return str(escape(self.classes(field.error_class))) if error else ""

    @staticmethod
    def _described(field: BaseField, error: Any) -> str:
        ids = [f"{field.id}-error" if error else "", f"{field.id}-help" if field.help_text else ""]
        described = " ".join(i for i in ids if i)
        invalid = ' aria-invalid="true"' if error else ""
        return f'{invalid} aria-describedby="{escape(described)}"' if described else invalid

    @staticmethod
    def _help(field: BaseField, kind: str) -> str:
        if not field.help_text:
            return ""
        return (
            f'<small class="{kind}" id="{escape(field.id)}-help">{escape(field.help_text)}</small>'
        )

    @staticmethod
    def _error_note(field: BaseField, error: Any) -> str:
        if not error:
            return ""
        return f'<div class="invalid-feedback" id="{escape(field.id)}-error">{escape(error)}</div>'


class InlineCells:
    """One inline table's cells on the parent's page: `cells(field, data)` gives a cell's
    markup. `detail_url` is the admin's link builder, `included` draws a cell by its template
    (and a null or empty one)."""

    # The templates written here; the tests empty it to draw every cell by its template.
    written: ClassVar[frozenset[str]] = frozenset({TEXT_CELL, RELATION_CELL})

    def __init__(
        self,
        inline: Any,
        request: Any,
        detail_url: Callable[[Any, str, Any], object],
        included: Callable[[BaseField, Any], object],
    ) -> None:
        self.inline = inline
        self.request = request
        self.detail_url = detail_url
        self.included = included
        self._foreign_views: dict[str, Any] = {}

    def __call__(self, field: BaseField, data: Any) -> Markup:
        template = field.detail_template
        if data is None or isinstance(data, list | tuple) or template not in self.written:
            return Markup(self.included(field, data))
        if template == TEXT_CELL and not field.copy_to_clipboard:
            return escape(data)
        if template == RELATION_CELL and isinstance(field, RelationField) and not field.multiple:
            view = self._foreign_views.get(field.name)
            if view is None:
                view = self._foreign_views[field.name] = foreign_view(self.inline, str(field.key))
            link = self.detail_url(self.request, str(view.key), data[view.pk_attr])
            return Markup(f'<a href="{escape(link)}">{escape(data["_meta"]["repr"])}</a>')
        return Markup(self.included(field, data))
