"""Permissions are plain strings: `<model>:<action>` for admin models plus fixed capability ones."""

from __future__ import annotations

from collections.abc import Iterable

MODEL_ACTIONS = ("view", "create", "edit", "delete", "export")

CAPABILITY_PERMISSIONS = (
    "settings:view",
    "settings:edit",
    "jobs:view",
    "jobs:edit",
    "jobs:run",
    "notifications:send",
    "audit:view",
)


def model_permission(identity: str, action: str) -> str:
    return f"{identity}:{action}"


def grantable(model_identities: Iterable[str]) -> list[str]:
    """Every permission an operator can grant, in a stable order for forms."""
    names = [
        model_permission(identity, action)
        for identity in sorted(model_identities)
        for action in MODEL_ACTIONS
    ]
    return names + [p for p in CAPABILITY_PERMISSIONS if p not in names]
