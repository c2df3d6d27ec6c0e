"""Password hashes: production argon2 parameters, and the cheap ones the suite signs in with."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher, extract_parameters, profiles

from app.auth import passwords
from app.config import ConfigError, load_config


@pytest.fixture
def standard_hashing() -> Iterator[None]:
    passwords.use_hashing("standard")
    try:
        yield
    finally:
        passwords.use_hashing("fast-for-tests")


def test_production_hashes_use_argon2id_with_rfc_9106_low_memory_parameters(
    standard_hashing: None,
) -> None:
    stored = passwords.hash_password("correct-horse-battery")
    parameters = extract_parameters(stored)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert parameters == profiles.RFC_9106_LOW_MEMORY
    assert passwords.verify_password(stored, "correct-horse-battery")
    assert not passwords.verify_password(stored, "correct-horse-batterz")
    assert not passwords.needs_rehash(stored)


def test_a_hash_made_in_a_test_suite_is_upgraded_at_the_next_production_sign_in(
    standard_hashing: None,
) -> None:
    cheap = PasswordHasher.from_parameters(profiles.CHEAPEST).hash("correct-horse-battery")
    assert passwords.verify_password(cheap, "correct-horse-battery")
    assert passwords.needs_rehash(cheap)


def test_the_suite_hashes_with_the_cheapest_parameters() -> None:
    stored = passwords.hash_password("correct-horse-battery")
    assert extract_parameters(stored) == profiles.CHEAPEST
    assert passwords.verify_password(stored, "correct-horse-battery")


def test_an_unknown_password_hashing_name_stops_start_up_naming_the_accepted_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECRET_KEY", "test-secret")
    monkeypatch.setenv("PASSWORD_HASHING", "md5")
    with pytest.raises(ConfigError, match="PASSWORD_HASHING='md5': accepted values are"):
        load_config(env_file=None)


def test_password_hashing_defaults_to_the_production_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECRET_KEY", "test-secret")
    monkeypatch.delenv("PASSWORD_HASHING")
    assert load_config(env_file=None).password_hashing == "standard"


@pytest.mark.parametrize(
    ("password", "refused"),
    [
        ("x" * 9, "at least 10 characters"),
        ("x" * 1025, "at most 1,024 characters"),
        ("ten chars\x00", "control characters"),
        ("tab\tin the middle", "control characters"),
        ("a line\nbreak here", "control characters"),
        ("alice-Smith", "the same as the username"),
    ],
)
def test_a_password_breaking_a_rule_is_refused_naming_the_field(
    password: str, refused: str
) -> None:
    with pytest.raises(passwords.WeakPassword) as error:
        passwords.check_strength(password, "ALICE-smith")
    assert error.value.field == "password" and refused in error.value.message


@pytest.mark.parametrize("password", ["x" * 10, "x" * 1024, "ünïcödé pässwörd ✓"])
def test_a_password_within_the_rules_is_taken(password: str) -> None:
    passwords.check_strength(password, "alice")
