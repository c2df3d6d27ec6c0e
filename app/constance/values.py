"""`LiveSettings`: the values this process serves, read as plain attributes (no I/O, no await)."""

from __future__ import annotations

from typing import Any

from app.constance.declared import DeclaredSettings, UnknownSetting


class LiveSettings:
    """`settings.MAINTENANCE_MODE` is one dictionary lookup; only `SettingsSync` changes values."""

    def __init__(self, declared: DeclaredSettings) -> None:
        # Values live in the instance's own __dict__: a read is a plain attribute lookup, and
        # __getattr__ runs only for a key nobody declared.
        object.__setattr__(self, "_declared", declared)
        object.__setattr__(self, "version", 0)
        self.__dict__.update(declared.defaults())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise UnknownSetting(name, self._declared.keys())

    def __setattr__(self, name: str, value: Any) -> None:
        # A write here would reach one process and no database: refuse it where it is made.
        raise AttributeError(
            f"{name}: live settings are changed through /admin/settings or "
            "`python -m app settings set`, not by assignment"
        )

    def __delattr__(self, name: str) -> None:
        # `del settings.KEY` would drop the value from this process only, as assignment would.
        raise AttributeError(f"{name}: live settings cannot be deleted; reset them instead")

    def __getitem__(self, key: str) -> Any:
        if key not in self._declared:
            raise UnknownSetting(key, self._declared.keys())
        return self.__dict__[key]

    def as_dict(self) -> dict[str, Any]:
        return {key: self.__dict__[key] for key in self._declared.by_key}

    def replace(self, values: dict[str, Any], version: int) -> None:
        """Called by SettingsSync only: the new values of some keys, and the version they are at."""
        self.__dict__.update(values)
        object.__setattr__(self, "version", version)
