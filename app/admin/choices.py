"""Fields with a fixed set of values (enum columns, permissions), shown by label everywhere:
lists, detail, forms and exports. Labels come from app/models/labels.py."""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any

from starlette.requests import Request
from starlette_admin.contrib.sqla.converters import ModelConverter
from starlette_admin.converters import converts
from starlette_admin.fields import BaseField, EnumField
from starlette_admin.types import RequestAction

from app.models.labels import choices_of


@dataclass
class ChoiceField(EnumField):
    """The library's enum field, labelled by app/models/labels.py, with its own picker (a
    placeholder in English for one value or many) and several values shown as chips."""

    form_template: str = "fields/form/choices.html"

    def __post_init__(self) -> None:
        if self.enum is not None and not self.choices:
            # The library labels members by NAME ("DELIVERED"); ours by label ("Delivered").
            self.choices = choices_of(self.enum)
            enum_class, self.enum = self.enum, None
            super().__post_init__()
            self.enum = enum_class
            self.coerce = int if issubclass(enum_class, IntEnum) else str
        else:
            super().__post_init__()
        if self.multiple:
            self.detail_template = "fields/detail/chips.html"
            self.list_template = "fields/list/chips.html"

    def prompt(self) -> str:
        """The picker's placeholder: the library's reads \"Select a Permissions\"."""
        words = self.label.lower() if self.label else self.name
        if self.multiple:
            return f"Choose {words}"
        return f"Choose {'an' if words[:1] in 'aeiou' else 'a'} {words}"

    async def serialize_value(self, request: Request, value: Any) -> Any:
        if request.state.action != RequestAction.EXPORT:
            return await super().serialize_value(request, value)
        # An export is read by people too: "Delivered", not "delivered".
        request.state.action = RequestAction.LIST
        try:
            return await super().serialize_value(request, value)
        finally:
            request.state.action = RequestAction.EXPORT


class LabelledConverter(ModelConverter):
    """The library's mapping of column types to fields, with enum columns as ChoiceFields."""

    @converts("Enum")
    def conv_enum(self, *args: Any, **kwargs: Any) -> BaseField:
        field = super().conv_enum(*args, **kwargs)
        if not isinstance(field, EnumField) or field.enum is None:
            return field
        # As the library made it, but labelled again from the enum, with our templates.
        given = {
            f.name: getattr(field, f.name)
            for f in fields(field)
            if f.init and f.name != "choices" and not f.name.endswith("_template")
        }
        return ChoiceField(**given)
