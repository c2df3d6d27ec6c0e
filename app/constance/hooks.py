"""Change hooks: functions that run in every process when a setting's value changes there."""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, cast

from app.constance.declared import DeclarationError, DeclaredSettings, Setting, UnknownSetting

log = logging.getLogger(__name__)

HOOK_KEYS = "__live_setting_keys__"


@dataclass(frozen=True)
class SettingChanged:
    key: str
    old: Any
    new: Any


Hook = Callable[[SettingChanged], Awaitable[None] | None]


def on_change(*keys: str) -> Callable[[Hook], Hook]:
    """Marks a function of the settings module to run when any of `keys` changes value."""

    def mark(function: Hook) -> Hook:
        setattr(function, HOOK_KEYS, keys)
        return function

    return mark


class Hooks:
    def __init__(self, by_key: dict[str, list[Hook]] | None = None) -> None:
        self.by_key = by_key or {}

    async def run(self, change: SettingChanged) -> None:
        for hook in self.by_key.get(change.key, ()):
            try:
                result = hook(change)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                # One broken hook must not stop the value from being served, nor other hooks.
                log.exception("live setting hook %s failed for %s", hook.__name__, change.key)


@dataclass(frozen=True)
class Declarations:
    declared: DeclaredSettings
    hooks: Hooks


def declarations_in(module: ModuleType) -> Declarations:
    """The module's `SETTINGS` list and every function marked with `@on_change`."""
    settings = getattr(module, "SETTINGS", None)
    if not isinstance(settings, list | tuple) or not all(isinstance(s, Setting) for s in settings):
        raise DeclarationError(f"{module.__name__}: SETTINGS must be a list of Setting(...)")
    declared = DeclaredSettings(settings)
    by_key: dict[str, list[Hook]] = {}
    for _, member in inspect.getmembers(module, callable):
        function = cast(Hook, member)
        for key in getattr(function, HOOK_KEYS, ()):
            if key not in declared:
                raise DeclarationError(
                    f"{function.__name__}: @on_change: {UnknownSetting(key, declared.keys())}"
                )
            by_key.setdefault(key, []).append(function)
    return Declarations(declared, Hooks(by_key))


def load_declarations(module_name: str) -> Declarations:
    return declarations_in(importlib.import_module(module_name))
