"""Password hashing with argon2id: argon2-cffi's default profile (RFC 9106, low memory), or the
cheapest one where a test suite asks for it with `PASSWORD_HASHING=fast-for-tests`."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from app.errors import BadInput
from app.web_addresses import has_control_characters

MIN_LENGTH = 10
MAX_LENGTH = 1024

# The names `PASSWORD_HASHING` accepts (docs/reference.md), and the argon2 parameters of each.
HASHING = {
    "standard": profiles.RFC_9106_LOW_MEMORY,
    # Test suites sign in hundreds of times: argon2's cheapest parameters, never for real use.
    "fast-for-tests": profiles.CHEAPEST,
}
DEFAULT_HASHING = "standard"

_hasher = PasswordHasher.from_parameters(HASHING[DEFAULT_HASHING])


class WeakPassword(BadInput, ValueError):
    """The password breaks a rule; the message says which and what is accepted."""


def use_hashing(name: str) -> None:
    """Set by the composition root from `PASSWORD_HASHING`; hashes already stored still verify."""
    global _hasher
    _hasher = PasswordHasher.from_parameters(HASHING[name])


def check_strength(password: str, username: str | None = None) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(
            f"password: must be at least {MIN_LENGTH} characters long", field="password"
        )
    if len(password) > MAX_LENGTH:  # the sign-in form could not carry a longer one
        raise WeakPassword(
            f"password: must be at most {MAX_LENGTH:,} characters long", field="password"
        )
    if has_control_characters(password):
        raise WeakPassword(
            "password: must not hold control characters (NUL, tab, line breaks)", field="password"
        )
    if username is not None and password.casefold() == username.casefold():
        raise WeakPassword("password: must not be the same as the username", field="password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    # Verified against when the username is unknown, so both paths cost one argon2 verify.
    return hasher.hash("starboard-timing-equaliser")


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        checked = password_hash or _dummy_hash(_hasher)
        return _hasher.verify(checked, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
