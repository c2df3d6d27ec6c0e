"""The live settings that decide who signs in and how (single sign-on's group mapping, passwords
switched off, two-factor) are changed on the settings page by superusers only: anyone else with
`settings:edit` could otherwise map their own provider group onto a group holding permissions
they lack, or switch off the second factor asked of superusers (docs/reference.md, "Live
settings")."""

from __future__ import annotations

import re

from app.live_settings import SETTINGS
from tests.conftest import SignedIn
from tests.constance.test_settings_page import (
    PAGE,
    block,
    changes_of,
    clients,
    post,
    save,
    stored,
    upload,
    version_of,
    words,
)

SIGN_IN_KEYS = {
    "SSO_GROUPS",
    "PASSWORD_SIGN_IN",
    "BREAK_GLASS_USERNAME",
    "TWO_FACTOR_FOR_SUPERUSERS",
    "TWO_FACTOR_FOR_GROUPS",
    "TWO_FACTOR_TRUST_SSO",
}


def test_the_sign_in_settings_are_the_ones_kept_for_superusers() -> None:
    assert {s.key for s in SETTINGS if s.superusers_only} == SIGN_IN_KEYS


def test_an_editor_who_is_not_a_superuser_cannot_change_how_people_sign_in(
    sqlite_url: str, signed_in: SignedIn
) -> None:
    client_for = clients(sqlite_url, signed_in)
    root, editor = client_for("root"), client_for("editor")
    assert save(root, "TWO_FACTOR_FOR_SUPERUSERS", "true").status_code == 200
    seen = version_of(sqlite_url, "TWO_FACTOR_FOR_SUPERUSERS")
    (change,) = changes_of(sqlite_url, "TWO_FACTOR_FOR_SUPERUSERS")

    # Every way a setting is written: save, reset, revert, import.
    mapped = save(editor, "SSO_GROUPS", '{"everyone": "admins"}')
    reset = post(editor, f"{PAGE}/TWO_FACTOR_FOR_SUPERUSERS/reset", seen_version=str(seen))
    revert = post(
        editor, f"{PAGE}/TWO_FACTOR_FOR_SUPERUSERS/revert/{change.id}", seen_version=str(seen)
    )
    document = {"settings": {"TWO_FACTOR_TRUST_SSO": True, "VAT_RATE": 0.1}}
    imported = [upload(editor, document), upload(editor, document, apply="1")]

    for refused in (mapped, reset, revert):
        assert refused.status_code == 403
    assert "SSO_GROUPS: only a superuser may change it" in words(mapped.text)
    for answer in imported:
        assert answer.status_code == 403
        problems = [words(p) for p in re.findall(r"data-sb-import-problem>([^<]+)<", answer.text)]
        assert problems == [
            "TWO_FACTOR_TRUST_SSO: only a superuser may change it (it decides who signs in and how)"
        ]
    assert set(stored(sqlite_url)) == {"TWO_FACTOR_FOR_SUPERUSERS"}
    assert stored(sqlite_url)["TWO_FACTOR_FOR_SUPERUSERS"].value["value"] is True

    # The page shows them to the editor, not as a form; the other settings stay theirs.
    page = editor.get(PAGE).text
    for key in SIGN_IN_KEYS:
        assert '<fieldset class="sb-setting-inputs" disabled' in block(page, key), key
        assert "data-sb-superusers-only" in block(page, key), key
    assert "disabled" not in block(page, "VAT_RATE")
    assert save(editor, "VAT_RATE", "0.1").status_code == 200
    assert save(root, "SSO_GROUPS", '{"everyone": "admins"}').status_code == 200
