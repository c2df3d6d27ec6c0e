"""What people read for a model and for an enum's values, in one place: a name the class
declares (`__label__`, `__plural__`, a member's `label`), else one derived from the code's name.
"""

from __future__ import annotations

import enum
import re
from typing import Any

_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def choice_label(member: enum.Enum) -> str:
    """ "Delivered" for OrderStatus.DELIVERED; a member may declare its own `label`."""
    declared = getattr(member, "label", None)
    if isinstance(declared, str) and declared:
        return declared
    return member.name.replace("_", " ").capitalize()


def choices_of(enum_class: type[enum.Enum]) -> list[tuple[Any, str]]:
    """(stored value, label) for each member, in declaration order."""
    return [(member.value, choice_label(member)) for member in enum_class]


def model_label(model: type[Any]) -> str:
    """ "Order Item" for OrderItem, unless the class declares `__label__`."""
    declared = getattr(model, "__label__", None)
    if isinstance(declared, str) and declared:
        return declared
    return _WORD_START.sub(" ", model.__name__)


def plural_label(model: type[Any]) -> str:
    """The model's plural: declared as `__plural__`, else its label made plural."""
    declared = getattr(model, "__plural__", None)
    if isinstance(declared, str) and declared:
        return declared
    return plural(model_label(model))


def plural(words: str) -> str:
    """English plural of a label's last word, never doubling an s ("Customer Stats")."""
    if words.endswith("s"):
        return words
    if words.endswith("y") and words[-2:-1] not in tuple("aeiou"):
        return words[:-1] + "ies"
    return words + "s"
