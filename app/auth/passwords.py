"""Password hashing with argon2id (argon2-cffi's defaults are the current OWASP advice)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.errors import BadInput

MIN_LENGTH = 10

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both paths cost one argon2 verify.
_DUMMY_HASH = _hasher.hash("starboard-timing-equaliser")


class WeakPassword(BadInput, ValueError):
    """The password breaks a rule; the message says which and what is accepted."""


def check_strength(password: str, username: str | None = None) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(
            f"password: must be at least {MIN_LENGTH} characters long", field="password"
        )
    if username is not None and password.casefold() == username.casefold():
        raise WeakPassword("password: must not be the same as the username", field="password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
