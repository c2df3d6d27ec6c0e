"""An export's download link, `/admin/exports/<token>`: the token, signed with SECRET_KEY,
names the file, the model and who asked for it; it expires after EXPORT_RETENTION_HOURS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from app.clock import SYSTEM_CLOCK, Clock
from app.errors import NotFound

SALT = "starboard.export-download"


@dataclass(frozen=True)
class ExportTicket:
    """What a download token names."""

    file: str  # the export's file name in EXPORTS_DIR
    model: str  # the list's identity: `<model>:export` is checked again at download
    username: str  # who asked for it
    filename: str  # the name the browser saves it under


class LinkExpired(NotFound):
    """The token was good but is older than the retention."""


class LinkInvalid(NotFound):
    """The token was not signed by this site (tampered, truncated or made up)."""


class ExportLinks:
    """Signs and reads download tokens; the time comes from the clock (tests move it)."""

    def __init__(self, secret_key: str, clock: Clock = SYSTEM_CLOCK) -> None:
        clock_now = clock.now

        class ClockSigner(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock_now().timestamp())

        self.serializer = URLSafeTimedSerializer(secret_key, salt=SALT, signer=ClockSigner)

    def token(self, ticket: ExportTicket) -> str:
        return str(
            self.serializer.dumps(
                {"f": ticket.file, "m": ticket.model, "u": ticket.username, "n": ticket.filename}
            )
        )

    def read(self, token: str, max_age_seconds: int) -> ExportTicket:
        try:
            data: Any = self.serializer.loads(token, max_age=max_age_seconds)
        except SignatureExpired as exc:
            raise LinkExpired(str(exc)) from None
        except BadSignature as exc:
            raise LinkInvalid(str(exc)) from None
        if not isinstance(data, dict) or not all(
            isinstance(data.get(k), str) for k in ("f", "m", "u", "n")
        ):
            raise LinkInvalid("not an export's token")
        return ExportTicket(file=data["f"], model=data["m"], username=data["u"], filename=data["n"])
