"""Fields with a fixed set of values (enum columns, permissions), shown by label everywhere:
lists, detail, forms and exports. Labels come from app/models/labels.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import Enum, IntEnum
from typing import Any, cast

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

    def _label(self, value: Any) -> str | None:
        """One value's label from a fixed set of choices; None to leave it to the library."""
        if self.multiple or self.choices_loader is not None or self.choices is None:
            return None
        labels: dict[Any, str] | None = self.__dict__.get("_labels")
        if labels is None:
            pairs = cast("Sequence[tuple[Any, Any]]", self.choices)  # pairs after __post_init__
            labels = self.__dict__["_labels"] = {v: label for v, label in pairs}
        try:
            return labels.get(value.value if isinstance(value, Enum) else value)
        except TypeError:  # a value no choice can be (unhashable): the library says so
            return None

    def prompt(self) -> str:
        """The picker's placeholder: the library's reads \"Select a Permissions\"."""
        words = self.label.lower() if self.label else self.name
        if self.multiple:
            return f"Choose {words}"
        return f"Choose {'an' if words[:1] in 'aeiou' else 'a'} {words}"

    async def serialize_value(self, request: Request, value: Any) -> Any:
        action = request.state.action
        if action != RequestAction.EXPORT:
            label = self._label(value) if not action.is_form() else None
            # The library finds a label by walking the choices, with two log calls (~6 µs).
            return label if label is not None else await super().serialize_value(request, value)
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
