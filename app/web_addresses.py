"""Text as typed from outside: control characters, and http(s) addresses that lead somewhere
(a live setting's URL, a notification's link, a page to go back to)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def has_control_characters(text: str) -> bool:
    """NUL to US and DEL: no keyboard types them, and browsers drop tabs and line breaks from
    a URL, so "/\\t/evil.example" would lead off the site."""
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def is_web_address(text: str, *, user_allowed: bool = True) -> bool:
    """An http:// or https:// URL (either in any case) with a host, a port (if any) from 1 to
    65535 and no space or control character, which the parser would drop but a stored value
    keeps. `user_allowed=False` also refuses a user name before the host: in a link,
    `https://admin.example@evil.example` hides where it goes."""
    if has_control_characters(text) or any(c.isspace() for c in text):
        return False
    try:
        parts = urlsplit(text)
        port = parts.port  # out of range or not a number: ValueError
    except ValueError:  # also a malformed host: "http://[::1"
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        return False
    if "[" in parts.netloc and not _is_ipv6(parts.hostname):  # urlsplit takes "[v1.x]" too
        return False
    return user_allowed or "@" not in parts.netloc


def _is_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return "%" not in host  # a zone names an interface of the reader's own machine
