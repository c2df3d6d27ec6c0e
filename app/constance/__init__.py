"""Live settings: declared in code (`app/live_settings.py`), edited in the browser or the CLI,
served from memory in every process and kept in step through channels.

Read a value anywhere with `from app import constance; constance.settings.KEY`, or in a request
with `request.app.state.live_settings.KEY`; both are plain attribute reads.
"""

from app.constance.declared import (
    MASK,
    DeclarationError,
    DeclaredSettings,
    Setting,
    SettingError,
    UnknownSetting,
)
from app.constance.hooks import SettingChanged, on_change
from app.constance.values import LiveSettings

# The process's live settings, bound by create_app (see `install`); empty until then.
settings: LiveSettings = LiveSettings(DeclaredSettings(()))


def install(live: LiveSettings) -> None:
    """Makes `constance.settings` this app's (the last app built in a process wins)."""
    global settings
    settings = live


__all__ = [
    "MASK",
    "DeclarationError",
    "DeclaredSettings",
    "LiveSettings",
    "Setting",
    "SettingChanged",
    "SettingError",
    "UnknownSetting",
    "install",
    "on_change",
    "settings",
]
