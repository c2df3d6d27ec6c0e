"""Static configuration: environment first, then `.env`, then the default (CONTRACT.md)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from starlette.config import Config
from starlette.datastructures import Secret

PROJECT_DIR = Path(__file__).resolve().parent.parent  # templates, static, migrations
VAR_DIR = Path("var")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/starboard.db"


class ConfigError(Exception):
    """A setting has a value we cannot run with; the message names it and the fix."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    secret_key: Secret = field(default_factory=lambda: Secret(secrets.token_hex(32)))
    debug: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    scheduler: str = "embedded"
    timezone: str = "UTC"
    live_settings_module: str = "app.live_settings"  # where SETTINGS and @on_change hooks live
    settings_check_interval: float = 2.0  # seconds between version checks (heals missed news)

    @property
    def is_embedded_db(self) -> bool:
        return self.database_url == DEFAULT_DATABASE_URL


def _secret_key(config: Config, database_url: str, debug: bool) -> Secret:
    value = config("SECRET_KEY", cast=Secret, default=None)
    if value is not None and str(value):
        return value
    if not debug and database_url != DEFAULT_DATABASE_URL:
        raise ConfigError(
            "SECRET_KEY is required when DEBUG is false and DATABASE_URL is not the "
            "embedded default: set it to a long random string"
        )
    # Dev convenience: one key generated once, so sessions survive restarts.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return Secret(path.read_text().strip())


def load_settings(env_file: str | Path | None = ".env") -> Settings:
    config = Config(env_file if env_file and Path(env_file).exists() else None)
    database_url = config("DATABASE_URL", default=DEFAULT_DATABASE_URL)
    debug = config("DEBUG", cast=bool, default=False)
    scheduler = config("SCHEDULER", default="embedded")
    if scheduler not in ("embedded", "off"):
        raise ConfigError(f"SCHEDULER={scheduler!r}: accepted values are 'embedded' or 'off'")
    port = config("PORT", default="8000")
    if not str(port).isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"PORT={port!r}: expected a whole number from 1 to 65535")
    return Settings(
        database_url=database_url,
        redis_url=config("REDIS_URL", default=None) or None,
        secret_key=_secret_key(config, database_url, debug),
        debug=debug,
        host=config("HOST", default="127.0.0.1"),
        port=int(port),
        scheduler=scheduler,
        timezone=config("TIMEZONE", default="UTC"),
    )
