"""Static configuration: environment first, then `.env`, then the default (docs/reference.md)."""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from starlette.config import Config as Environment
from starlette.datastructures import Secret

from app.errors import BadInput
from app.origins import normal_origin
from app.typed_values import is_whole_number
from app.zone_names import known_zones

PROJECT_DIR = Path(__file__).resolve().parent.parent  # templates, static, migrations
VAR_DIR = Path("var")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/starboard.db"
MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
LOG_FORMATS = ("text", "json")
# An RFC 6750 bearer token, long enough that guessing it is hopeless.
METRICS_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]{16,512}=*")
CLAIM_NAME = re.compile(r"[A-Za-z0-9._:/-]{1,100}")


class ConfigError(BadInput):
    """A configuration variable has a value we cannot run with; the message names it and the fix."""


@dataclass(frozen=True)
class Config:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    # Without Redis, channels reach other processes through the database; off for a process
    # that is known to be alone (the test suite's in-process apps): no table polled for nothing.
    relay: bool = True
    secret_key: Secret = field(default_factory=lambda: Secret(secrets.token_hex(32)))
    debug: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    scheduler: str = "embedded"
    timezone: str = "UTC"
    live_settings_module: str = "app.live_settings"  # where SETTINGS and @on_change hooks live
    settings_check_interval: float = 2.0  # seconds between version checks (heals missed news)
    jobs_module: str = "app.jobs"  # where the @job functions live
    imports_dir: Path = VAR_DIR / "imports"  # big imports' files, between dry run and apply
    job_lease: float = 15.0  # seconds a running run stays its process's without a heartbeat
    job_heartbeat: float = 3.0  # seconds between lease renewals and the schedulers' healing
    job_shutdown_grace: float = 10.0  # seconds running jobs get to finish at shutdown
    password_hashing: str = "standard"  # argon2 parameters: "fast-for-tests" in test suites only
    # Other addresses the site is reached under, whose pages may post and open sockets.
    allowed_origins: tuple[str, ...] = ()
    # Proxies whose X-Forwarded-For names the client: addresses, networks, or "*"; none by default.
    forwarded_allow_ips: tuple[str, ...] = ()
    log_format: str = "text"  # "json": one JSON object per log line (app/logs.py)
    # Besides loopback clients, whoever sends it as a bearer token may read /metrics; None: nobody.
    metrics_token: Secret | None = None
    # Off only to measure what the metrics cost (bench/metrics.py): no /metrics, nothing counted.
    metrics: bool = True
    exports_dir: Path = VAR_DIR / "exports"  # background exports' files (app/exports/files.py)
    # Single sign-on through an OpenID Connect provider; None: local passwords only.
    oidc: OidcConfig | None = None


@dataclass(frozen=True)
class OidcConfig:
    """OIDC_*: the provider the sign-in page offers (docs/reference.md, "Single sign-on")."""

    issuer: str  # discovery is read from <issuer>/.well-known/openid-configuration
    client_id: str
    client_secret: Secret
    groups_claim: str = "groups"  # the ID token claim whose values SSO_GROUPS maps to groups
    provider_name: str = "single sign-on"  # the button says "Sign in with <this>"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"


def _secret_key(env: Environment, database_url: str, debug: bool) -> Secret:
    value = env("SECRET_KEY", cast=Secret, default=None)
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
        VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return Secret(path.read_text().strip())


def _seconds(env: Environment, name: str, default: float, low: float, high: float) -> float:
    raw = env(name, default=None)
    if raw is None or str(raw).strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # NaN fails too
        raise ConfigError(f"{name}={raw!r}: expected seconds from {low:g} to {high:g}")
    return value


def _job_timing(env: Environment) -> tuple[float, float, float]:
    lease = _seconds(env, "JOB_LEASE_S", 15.0, 1.0, 3600.0)
    heartbeat = _seconds(env, "JOB_HEARTBEAT_S", 3.0, 0.1, 600.0)
    # A lease renewed less often than it lasts would expire under a healthy process.
    if heartbeat >= lease:
        raise ConfigError(
            f"JOB_HEARTBEAT_S={heartbeat:g}: must be less than JOB_LEASE_S={lease:g} "
            "(a third of it is a good value)"
        )
    grace = _seconds(env, "JOB_SHUTDOWN_GRACE_S", 10.0, 0.0, 3600.0)
    return lease, heartbeat, grace


def _origins(env: Environment) -> tuple[str, ...]:
    raw = str(env("ALLOWED_ORIGINS", default=""))
    listed = [item.strip() for item in raw.split(",") if item.strip()]
    for item in listed:
        if normal_origin(item) is None:
            raise ConfigError(
                f"ALLOWED_ORIGINS: {item[:100]!r} is not an origin; expected a comma-separated "
                "list like https://admin.example.com,https://ops.example.com:8443"
            )
    return tuple(listed)


def _forwarded_allow_ips(env: Environment) -> tuple[str, ...]:
    raw = str(env("FORWARDED_ALLOW_IPS", default=""))
    listed = [item.strip() for item in raw.split(",") if item.strip()]
    if "*" in listed:
        return ("*",)
    trusted = []
    for item in listed:
        try:
            # One spelling each; a network written with one of its addresses means that network.
            trusted.append(
                str(ipaddress.ip_network(item, strict=False))
                if "/" in item
                else str(ipaddress.ip_address(item))
            )
        except ValueError:
            raise ConfigError(
                f"FORWARDED_ALLOW_IPS: {item[:100]!r} is not an IP address or network; expected "
                "a comma-separated list like 10.0.0.5,192.168.0.0/16 (or * for any peer)"
            ) from None
    return tuple(trusted)


def _metrics_token(env: Environment) -> Secret | None:
    raw = str(env("METRICS_TOKEN", default=""))
    if raw == "":
        return None  # token access off: loopback clients only
    if not METRICS_TOKEN.fullmatch(raw):
        # The value itself is a secret: only its length is named.
        raise ConfigError(
            f"METRICS_TOKEN: a value of {len(raw)} characters is not a usable bearer token; "
            "expected 16 to 512 letters, digits or -._~+/ (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'), or empty to turn token access off"
        )
    return Secret(raw)


def _log_format(env: Environment) -> str:
    raw = str(env("LOG_FORMAT", default="text"))
    if raw.strip().lower() not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT={raw[:100]!r}: accepted values are 'text' or 'json'")
    return raw.strip().lower()


def _oidc(env: Environment) -> OidcConfig | None:
    issuer = str(env("OIDC_ISSUER", default="")).strip()
    if issuer == "":
        return None  # no single sign-on: the sign-in page is as it always was
    parts = urlsplit(issuer)
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if not (parts.scheme == "https" or (parts.scheme == "http" and local)) or not parts.hostname:
        raise ConfigError(
            f"OIDC_ISSUER={issuer[:100]!r}: expected the provider's https:// issuer URL, as its "
            "discovery document names it (http:// only for localhost)"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"OIDC_ISSUER={issuer[:100]!r}: an issuer URL has no query or fragment")
    client_id = str(env("OIDC_CLIENT_ID", default="")).strip()
    if client_id == "":
        raise ConfigError(
            "OIDC_CLIENT_ID: required when OIDC_ISSUER is set; the client id the provider "
            "gave Starboard's registration"
        )
    secret = str(env("OIDC_CLIENT_SECRET", default=""))
    if secret == "":
        raise ConfigError(
            "OIDC_CLIENT_SECRET: required when OIDC_ISSUER is set; the client secret of "
            "Starboard's registration at the provider"
        )
    claim = str(env("OIDC_GROUPS_CLAIM", default="groups")).strip()
    if not CLAIM_NAME.fullmatch(claim):
        raise ConfigError(
            f"OIDC_GROUPS_CLAIM={claim[:100]!r}: expected a claim name such as groups or roles "
            "(letters, digits, and . _ : / -)"
        )
    name = str(env("OIDC_PROVIDER_NAME", default="single sign-on")).strip()
    if not 0 < len(name) <= 60:
        raise ConfigError(
            f"OIDC_PROVIDER_NAME: expected 1 to 60 characters (the button says 'Sign in with "
            f"<name>'), got {len(name)}"
        )
    return OidcConfig(issuer, client_id, Secret(secret), claim, name)


def load_config(env_file: str | Path | None = ".env") -> Config:
    env = Environment(env_file if env_file and Path(env_file).exists() else None)
    database_url = env("DATABASE_URL", default=DEFAULT_DATABASE_URL)
    debug_raw = str(env("DEBUG", default="false"))
    if debug_raw.strip().lower() not in ("true", "false", "1", "0"):
        raise ConfigError(f"DEBUG={debug_raw!r}: expected true or false (or 1 or 0)")
    debug = debug_raw.strip().lower() in ("true", "1")
    scheduler = env("SCHEDULER", default="embedded")
    if scheduler not in ("embedded", "off"):
        raise ConfigError(f"SCHEDULER={scheduler!r}: accepted values are 'embedded' or 'off'")
    port = env("PORT", default="8000")
    if not is_whole_number(str(port)) or not 0 < int(port) < 65536:
        raise ConfigError(f"PORT={port!r}: expected a whole number from 1 to 65535")
    jobs_module = env("JOBS_MODULE", default="app.jobs")
    if not MODULE_NAME.fullmatch(jobs_module):
        raise ConfigError(f"JOBS_MODULE={jobs_module!r}: expected a module name such as app.jobs")
    lease, heartbeat, grace = _job_timing(env)
    timezone = str(env("TIMEZONE", default="UTC")).strip()
    if timezone not in known_zones():
        raise ConfigError(
            f"TIMEZONE={timezone[:100]!r}: expected an IANA time zone name like UTC, "
            "Europe/Paris or America/New_York"
        )
    password_hashing = env("PASSWORD_HASHING", default="standard")
    if password_hashing not in ("standard", "fast-for-tests"):
        raise ConfigError(
            f"PASSWORD_HASHING={password_hashing!r}: accepted values are 'standard' or "
            "'fast-for-tests' (test suites only)"
        )
    return Config(
        database_url=database_url,
        redis_url=env("REDIS_URL", default=None) or None,
        secret_key=_secret_key(env, database_url, debug),
        debug=debug,
        host=env("HOST", default="127.0.0.1"),
        port=int(port),
        scheduler=scheduler,
        timezone=timezone,
        jobs_module=jobs_module,
        imports_dir=Path(env("IMPORTS_DIR", default=str(VAR_DIR / "imports"))),
        job_lease=lease,
        job_heartbeat=heartbeat,
        job_shutdown_grace=grace,
        password_hashing=password_hashing,
        allowed_origins=_origins(env),
        forwarded_allow_ips=_forwarded_allow_ips(env),
        log_format=_log_format(env),
        metrics_token=_metrics_token(env),
        exports_dir=Path(str(env("EXPORTS_DIR", default="")).strip() or VAR_DIR / "exports"),
        oidc=_oidc(env),
    )
