"""The errors a person can cause, in one tree, each kind answered the same way on every surface.

    StarboardError        something refused; `message` names the field and what is accepted
    ├── BadInput          a value that is not accepted              HTTP 422, exit 2
    │   ├── NotFound      a name or id that matches nothing         HTTP 404, exit 2
    │   ├── BadQuery      a query parameter out of its bounds       HTTP 400, exit 2
    │   └── TooLarge      a request body or form field over a limit HTTP 413, exit 2
    ├── Forbidden         the person may not do this                HTTP 403, exit 1
    ├── Conflict          the current state refuses it, try again   HTTP 409, exit 1
    └── Unavailable       a service it needs is down                HTTP 503, exit 1

A query parameter out of bounds (`limit=0`, a page past 2**63) is a malformed address rather
than a form to correct, hence 400, not 422.

A name that matches nothing is bad input too: on the command line it is an argument the operator
typed (exit 2, like any usage error), while over HTTP it is a page that is not there (404).

Each capability raises its own subclasses (`InvalidSchedule`, `WeakPassword`, ...), whose first
base is their kind; some keep `ValueError`, `KeyError` or `AttributeError` as a further base so
that code catching those still does. One place per surface turns them into an answer: the HTTP
exception handler (app/views/errors.py), the CLI's main() (app/cli/__init__.py) and the socket's
error frame (app/views/ws.py).
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "KINDS",
    "BadInput",
    "BadQuery",
    "Conflict",
    "Forbidden",
    "NotFound",
    "StarboardError",
    "TooLarge",
    "Unavailable",
]

EXIT_FAILURE = 1
EXIT_USAGE = 2


class StarboardError(Exception):
    """A refusal the person can act on; never a bug. Subclass a kind below, not this."""

    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = EXIT_FAILURE
    title: ClassVar[str] = "Refused"  # the heading of the error page

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message  # one line: the field, what is wrong, what is accepted
        self.field = field  # the field, key or argument it is about, when there is one

    def __str__(self) -> str:
        return self.message


# Each kind states all three, so a class whose first base is a kind and a later one another
# kind's subclass (`UnknownJob(NotFound, JobError)`) answers as its first base says.


class BadInput(StarboardError):
    http_status = 422
    exit_code = EXIT_USAGE
    title = "Not accepted"


class NotFound(BadInput):
    http_status = 404
    exit_code = EXIT_USAGE
    title = "Not found"


class BadQuery(BadInput):
    http_status = 400
    exit_code = EXIT_USAGE
    title = "Bad request"


class TooLarge(BadInput):
    http_status = 413
    exit_code = EXIT_USAGE
    title = "Too large"


class Forbidden(StarboardError):
    http_status = 403
    exit_code = EXIT_FAILURE
    title = "Not allowed"


class Conflict(StarboardError):
    http_status = 409
    exit_code = EXIT_FAILURE
    title = "Conflict"


class Unavailable(StarboardError):
    http_status = 503
    exit_code = EXIT_FAILURE
    title = "Unavailable"


KINDS: tuple[type[StarboardError], ...] = (
    BadInput,
    NotFound,
    BadQuery,
    TooLarge,
    Forbidden,
    Conflict,
    Unavailable,
)
