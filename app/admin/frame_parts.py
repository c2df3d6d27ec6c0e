"""Parts of an admin page's frame drawn once per reader and kind of page, then kept
(docs/architecture.md, "Page weight and speed").

The sidebar, the stylesheet and script links and the like do not depend on the list's rows or
query, only on who reads the page (their permissions, groups, theme and zone: the signed-in
`CurrentUser` as a whole), the language, where the site is mounted, which model or page is
open, the kind of page (list, detail, ...) and the live settings' version; a list's toolbar
and column headers on its query string too. Drawing them is about a third of a list page's
time; a template wraps such a block in
`{% call frame_part(request, "name", *extra) %}...{% endcall %}` and it is drawn once per such
key.

Two values change with every request or session inside a kept part and are put back: the
response's CSP nonce and the session's CSRF token. Both are long random strings, so replacing
the ones a part was drawn with cannot touch anything else. Pages for visitors not signed in
(the sign-in form) are never kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette_admin.i18n import get_locale

from app.admin.maintenance import live_settings
from app.auth.current import current_user
from app.security_headers import csp_nonce

KEPT = 1024  # parts (~4 KB each), least recently used first out: a few per page kind and reader


def reader_key(request: Request, name: str, extra: tuple[Hashable, ...] = ()) -> Hashable | None:
    """What a part named `name` depends on (see the module's doc); None for a visitor not
    signed in, whose parts are never kept."""
    # The reader's side is the same for all of a page's ~15 parts: worked out once per page
    # kind (the action is set as the page is built) and request (~7 us a part otherwise).
    # Read from the dict behind request.state: its attributes' misses raise (~3 us a part).
    state = request.scope.setdefault("state", {})
    action = state.get("action")
    readers: dict[Any, tuple[Hashable, ...] | None] = state.setdefault("reader_keys", {})
    reader = readers.get(action, False)
    if reader is False:
        reader = readers[action] = _reader(request, action)
    return None if reader is None else (name, reader, extra)


def _reader(request: Request, action: Any) -> tuple[Hashable, ...] | None:
    user = current_user(request)
    if user is None:
        return None
    live = live_settings(request)
    return (
        user,
        str(get_locale()),
        request.scope.get("root_path", ""),
        request.path_params.get("key") or request.url.path,
        action,
        live.version if live is not None else None,
    )


class KeptValues:
    """Values worked out once per `reader_key`, at most `kept` of them, least recently used out
    first: the parts FrameParts draws, and values such as a page's batch actions, whose forms
    the library renders from templates on every request."""

    def __init__(self, kept: int = KEPT) -> None:
        self.limit = kept
        self._kept: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable | None) -> Any | None:
        if key is None:
            return None
        value = self._kept.get(key)  # one lookup for a miss, two for a hit: keys hash a user
        if value is not None:
            self._kept.move_to_end(key)
        return value

    def keep(self, key: Hashable | None, value: Any) -> None:
        if key is None:
            return
        self._kept[key] = value
        if len(self._kept) > self.limit:
            self._kept.popitem(last=False)

    def __len__(self) -> int:
        return len(self._kept)


class FrameParts:
    """The kept parts of one admin site (per process; a restart draws them again)."""

    def __init__(self, kept: int = KEPT) -> None:
        # Each part as drawn, with the nonce and CSRF token it was drawn with.
        self._kept = KeptValues(kept)

    def draw(
        self,
        request: Request,
        name: str,
        caller: Callable[[], str],
        extra: tuple[Hashable, ...] = (),
    ) -> Markup:
        key = reader_key(request, name, extra)
        if key is None:
            return Markup(caller())
        nonce, token = csp_nonce(request), str(request.scope["state"].get("csrf_token", ""))
        kept: tuple[str, str, str] | None = self._kept.get(key)
        if kept is None:
            text = str(caller())
            self._kept.keep(key, (text, nonce, token))
            return Markup(text)
        text, drawn_nonce, drawn_token = kept
        if drawn_nonce and drawn_nonce != nonce:
            text = text.replace(drawn_nonce, nonce)
        if drawn_token and drawn_token != token:
            text = text.replace(drawn_token, token)
        return Markup(text)

    def template_function(self) -> Callable[..., Markup]:
        """`frame_part(request, name, *extra)` for the admin's templates, called with a
        `{% call %}` body; `extra` is what else the part depends on (a list's query string, for
        its toolbar). The request is handed over, not read from the template's context: Jinja
        copies the whole context (every variable and block) to call a function that asks for it
        from a block that sets a variable, about 0.1 ms a call."""

        def frame_part(
            request: Any, name: str, *extra: Hashable, caller: Callable[[], str]
        ) -> Markup:
            if not isinstance(request, Request):
                return Markup(caller())
            return self.draw(request, name, caller, extra)

        return frame_part

    def __len__(self) -> int:
        return len(self._kept)
