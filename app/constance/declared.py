"""Declaring live settings in code: key, default, help, group, type, validators, secrecy.

A developer lists `Setting(...)` objects in `app/live_settings.py`; `DeclaredSettings` checks
them once at start-up (a default that fails its own validators stops the app, naming the key).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.constance.kinds import KINDS, BadValue, Kind, brief, kind_of_default
from app.errors import BadInput, NotFound

KEY_PATTERN = re.compile(r"[A-Z][A-Z0-9_]*")
MASK = "********"  # what a secret shows as in the page, the audit log and exports

# A custom validator gets the parsed value and raises ValueError with a message for the operator.
Check = Callable[[Any], None]


class SettingError(BadInput, ValueError):
    """A value an operator or a file gave for a setting is not accepted; names key and why."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}", field=key)
        self.key = key
        self.reason = reason  # without the key, for a page that shows it beside the field


class DeclarationError(BadInput):
    """The declarations in code are wrong; raised at start-up."""


class UnknownSetting(NotFound, AttributeError, KeyError):
    """No setting has this key; the message suggests the closest declared one."""

    def __init__(self, key: str, known: Iterable[str]) -> None:
        close = difflib.get_close_matches(key.upper(), list(known), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]}?" if close else ""
        super().__init__(f"no live setting {brief(key)}{hint}", field=key)
        self.key = key


@dataclass(frozen=True)
class Setting:
    key: str
    default: Any
    help: str = ""
    group: str = "General"
    kind: str | None = None  # bool int float decimal str text choice date datetime time …
    min: Any = None
    max: Any = None
    pattern: str | None = None
    choices: Sequence[str] = ()
    check: Check | None = None
    secret: bool = False
    label: str = ""  # what the settings page calls it; from the key when not given
    # Changed on the settings page by superusers only (the command line is not limited).
    superusers_only: bool = False
    type: Kind = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not KEY_PATTERN.fullmatch(self.key):
            raise DeclarationError(
                f"{self.key!r}: a setting key is UPPER_CASE letters, digits and underscores"
            )
        if not self.label.strip():
            # MAINTENANCE_MODE -> "Maintenance mode"
            object.__setattr__(self, "label", self.key.replace("_", " ").capitalize())
        if self.kind is None:
            kind = "choice" if self.choices else None
            chosen = KINDS[kind] if kind else kind_of_default(self.default)
            if chosen is None:
                raise DeclarationError(
                    f"{self.key}: cannot tell the type from the default {self.default!r}; "
                    f"name it with kind= (one of {', '.join(KINDS)})"
                )
        elif self.kind in KINDS:
            chosen = KINDS[self.kind]
        else:
            raise DeclarationError(
                f"{self.key}: unknown kind {self.kind!r}; accepted: {', '.join(KINDS)}"
            )
        object.__setattr__(self, "type", chosen)
        if chosen.name == "choice" and not self.choices:
            raise DeclarationError(f"{self.key}: a choice setting needs choices=[...]")
        if (self.min is not None or self.max is not None) and not chosen.ordered:
            raise DeclarationError(f"{self.key}: min/max apply to numbers, dates, times, durations")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:  # else a bare re.error at start-up, naming no key
                raise DeclarationError(f"{self.key}: pattern {self.pattern!r}: {exc}") from None
        if not chosen.fits(self.default):
            raise DeclarationError(
                f"{self.key}: the default {self.default!r} is not {chosen.accepted} "
                f"(type {chosen.name})"
            )
        try:
            # Through JSON and back, as a stored value goes: "x" as an email default fails here.
            self.load(self.dump(self.default))
        except SettingError as exc:
            raise DeclarationError(f"{self.key}: the default fails: {exc.reason}") from None
        except TypeError:  # min="5" for an int: else every later save would fail the same way
            raise DeclarationError(
                f"{self.key}: min/max must be of the setting's type ({chosen.name})"
            ) from None

    @property
    def accepted(self) -> str:
        """What an operator may type, with every limit: shown in errors and as the field's hint."""
        return self.accepted_in("UTC")

    def accepted_in(self, zone: str) -> str:
        """What an operator may type whose clock is in `zone` (see `parse`)."""
        parts = [self.type.accepted_in(zone)]
        if self.choices:
            parts = [f"one of {', '.join(self.choices)}"]
        if self.min is not None and self.max is not None:
            parts.append(f"from {self.type.show(self.min)} to {self.type.show(self.max)}")
        elif self.min is not None:
            parts.append(f"at least {self.type.show(self.min)}")
        elif self.max is not None:
            parts.append(f"at most {self.type.show(self.max)}")
        if self.pattern is not None:
            parts.append(f"matching {self.pattern}")
        return ", ".join(parts)

    def parse(self, text: str, zone: str = "UTC") -> Any:
        """Typed text (form, CLI) to a valid value, or SettingError naming key, type and limits.
        A date-time typed without an offset is on the clock of `zone` (the page's reader's)."""
        try:
            value = self.type.parse_in(text, zone)
        except BadValue as exc:
            raise self._refuse(text, exc.why, zone) from None
        return self.validate(value, text, zone)

    def load(self, stored: Any) -> Any:
        """A JSON value (database, import file) to a valid value, or SettingError."""
        try:
            value = self.type.load(stored)
        except BadValue as exc:
            raise self._refuse(stored, exc.why) from None
        return self.validate(value, stored)

    def validate(self, value: Any, given: Any = None, zone: str = "UTC") -> Any:
        """The one gate every value passes, typed or imported or stored: the type's own limits
        (no NaN, no overlong text, …), then the declaration's validators."""
        given = value if given is None else given
        try:
            self.type.check(value)
        except BadValue as exc:
            raise self._refuse(given, exc.why, zone) from None
        if self.choices and value not in self.choices:
            raise self._refuse(given, zone=zone)
        if self.min is not None and value < self.min:
            raise self._refuse(given, zone=zone)
        if self.max is not None and value > self.max:
            raise self._refuse(given, zone=zone)
        if self.pattern is not None and not re.fullmatch(self.pattern, str(value)):
            raise self._refuse(given, zone=zone)
        if self.check is not None:
            try:
                self.check(value)
            except ValueError as exc:
                message = str(exc)
                if self.secret and str(value):
                    # A check may quote the value it refuses; a secret's must not reach the page.
                    message = message.replace(str(value), MASK)
                raise SettingError(self.key, f"{message} (type {self.type.name})") from None
        return value

    def dump(self, value: Any) -> Any:
        return self.type.dump(value)

    def show(self, value: Any) -> str:
        return self.type.show(value)

    def shown(self, value: Any) -> str:
        """What a page, an audit entry or an export may show: secrets masked."""
        return MASK if self.secret else self.show(value)

    def _refuse(self, given: Any, why: str | None = None, zone: str = "UTC") -> SettingError:
        accepted = self.accepted_in(zone)
        if why is not None:  # a limit: says more than the value, which may be huge
            return SettingError(self.key, f"{why}; expected {accepted} (type {self.type.name})")
        seen = brief(MASK if self.secret else given)
        return SettingError(self.key, f"expected {accepted} (type {self.type.name}), got {seen}")


class DeclaredSettings:
    """Every declared setting by key, in declaration order (groups keep first-seen order)."""

    def __init__(self, settings: Iterable[Setting]) -> None:
        self.by_key: dict[str, Setting] = {}
        for setting in settings:
            if setting.key in self.by_key:
                raise DeclarationError(f"{setting.key}: declared twice")
            self.by_key[setting.key] = setting

    def __getitem__(self, key: str) -> Setting:
        try:
            return self.by_key[key]
        except KeyError:
            raise UnknownSetting(key, self.by_key) from None

    def __contains__(self, key: object) -> bool:
        return key in self.by_key

    def __iter__(self) -> Any:
        return iter(self.by_key.values())

    def __len__(self) -> int:
        return len(self.by_key)

    def keys(self) -> list[str]:
        return list(self.by_key)

    def defaults(self) -> dict[str, Any]:
        return {key: setting.default for key, setting in self.by_key.items()}

    def groups(self) -> dict[str, list[Setting]]:
        grouped: dict[str, list[Setting]] = {}
        for setting in self.by_key.values():
            grouped.setdefault(setting.group, []).append(setting)
        return grouped
