"""Static configuration from the environment: what SECRET_KEY must be, and when it is made up."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.config import DEFAULT_DATABASE_URL, ConfigError, load_config
from tests.conftest import RunCli

POSTGRES_URL = "postgresql+asyncpg://starboard@db.example/starboard"
OTHER_SQLITE_URL = "sqlite+aiosqlite:///./elsewhere.db"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SECRET_KEY, DEBUG or DATABASE_URL from outside; `var/` is made under tmp_path."""
    for name in (
        "SECRET_KEY",
        "DEBUG",
        "DATABASE_URL",
        "FORWARDED_ALLOW_IPS",
        "LOG_FORMAT",
        "METRICS_TOKEN",
        "EXPORTS_DIR",
        "PORT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("database_url", [POSTGRES_URL, OTHER_SQLITE_URL])
@pytest.mark.parametrize("secret_key", [None, ""], ids=["unset", "empty"])
def test_secret_key_is_required_without_debug_outside_the_embedded_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, secret_key: str | None
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    if secret_key is not None:
        monkeypatch.setenv("SECRET_KEY", secret_key)
    with pytest.raises(ConfigError, match=r"^SECRET_KEY is required when DEBUG is false") as error:
        load_config(env_file=None)
    assert "set it to a long random string" in str(error.value)
    assert not (tmp_path / "var").exists()  # nothing generated in its place


@pytest.mark.parametrize(
    ("database_url", "debug"),
    [(POSTGRES_URL, "true"), (DEFAULT_DATABASE_URL, None), (DEFAULT_DATABASE_URL, "false")],
    ids=["debug-on-postgres", "embedded-default", "embedded-default-no-debug"],
)
def test_secret_key_is_generated_once_with_debug_or_on_the_embedded_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, debug: str | None
) -> None:
    if database_url != DEFAULT_DATABASE_URL:
        monkeypatch.setenv("DATABASE_URL", database_url)
    if debug is not None:
        monkeypatch.setenv("DEBUG", debug)
    first = str(load_config(env_file=None).secret_key)
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    kept = tmp_path / "var" / "secret_key"
    assert kept.read_text() == first
    assert kept.stat().st_mode & 0o777 == 0o600  # the key readable by its owner only
    # Kept for the next start, so sessions survive a restart.
    assert str(load_config(env_file=None).secret_key) == first


def test_a_given_secret_key_is_used_and_never_printed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", POSTGRES_URL)
    monkeypatch.setenv("SECRET_KEY", "a-long-random-production-key")
    config = load_config(env_file=None)
    assert str(config.secret_key) == "a-long-random-production-key"
    assert "a-long-random-production-key" not in repr(config)
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize("value", ["yes", "on", "2", "maybe"])
def test_a_debug_value_that_is_not_true_or_false_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("DEBUG", value)
    with pytest.raises(ConfigError, match=rf"DEBUG='{value}': expected true or false"):
        load_config(env_file=None)


@pytest.mark.parametrize("value", ["0", "65536", "http", "80.5", "\u00b2", "\u0663"])
def test_a_port_that_is_no_port_number_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # "²" is a digit to str.isdigit() but not to int(); "٣" is one to int() but to no reader.
    monkeypatch.setenv("PORT", value)
    with pytest.raises(ConfigError, match=rf"^PORT='{value}': expected a whole number from 1 to"):
        load_config(env_file=None)


@pytest.mark.parametrize(("value", "debug"), [("true", True), ("FALSE", False), ("1", True)])
def test_debug_takes_true_false_1_and_0_in_any_case(
    monkeypatch: pytest.MonkeyPatch, value: str, debug: bool
) -> None:
    monkeypatch.setenv("DEBUG", value)
    assert load_config(env_file=None).debug is debug


def test_no_proxy_is_trusted_unless_forwarded_allow_ips_names_it() -> None:
    assert load_config(env_file=None).forwarded_allow_ips == ()


@pytest.mark.parametrize(
    ("value", "trusted"),
    [
        (" 10.0.0.5 , 192.168.0.0/16 ", ("10.0.0.5", "192.168.0.0/16")),
        ("::1,fd00::/8", ("::1", "fd00::/8")),
        ("10.1.2.3/8", ("10.0.0.0/8",)),  # a network written with one of its addresses
        ("*", ("*",)),
        ("10.0.0.5,*", ("*",)),
        ("", ()),
    ],
)
def test_forwarded_allow_ips_takes_addresses_networks_or_a_star(
    monkeypatch: pytest.MonkeyPatch, value: str, trusted: tuple[str, ...]
) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", value)
    assert load_config(env_file=None).forwarded_allow_ips == trusted


@pytest.mark.parametrize("item", ["proxy.internal", "10.0.0.300", "10.0.0.0/33", "localhost"])
def test_a_forwarded_allow_ips_entry_that_is_no_address_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, item: str
) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", f"10.0.0.5,{item}")
    with pytest.raises(ConfigError, match=rf"^FORWARDED_ALLOW_IPS: '{re.escape(item)}' is not"):
        load_config(env_file=None)


TOKEN = "s3cret-metrics-token-0123456789"


@pytest.mark.parametrize(
    "bad", ["short", "has spaces in it 0123456789", "naïve-token-0123456789", "x" * 513]
)
def test_a_metrics_token_that_is_no_usable_bearer_token_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("METRICS_TOKEN", bad)
    with pytest.raises(ConfigError) as refused:
        load_config(env_file=None)
    assert refused.value.message.startswith(f"METRICS_TOKEN: a value of {len(bad)} characters")
    assert "expected 16 to 512 letters, digits or -._~+/" in refused.value.message
    assert "or empty to turn token access off" in refused.value.message
    assert bad not in refused.value.message  # a secret, even a wrong one, is not printed


def test_a_metrics_token_is_kept_secret_and_empty_means_no_token_access(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_config(env_file=None).metrics_token is None
    monkeypatch.setenv("METRICS_TOKEN", "")
    assert load_config(env_file=None).metrics_token is None
    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    config = load_config(env_file=None)
    assert str(config.metrics_token) == TOKEN and TOKEN not in repr(config)


@pytest.mark.parametrize(("value", "chosen"), [("", "text"), ("json", "json"), (" JSON ", "json")])
def test_log_format_is_text_unless_json_is_asked_for(
    monkeypatch: pytest.MonkeyPatch, value: str, chosen: str
) -> None:
    if value:
        monkeypatch.setenv("LOG_FORMAT", value)
    assert load_config(env_file=None).log_format == chosen


@pytest.mark.parametrize("value", ["xml", "logfmt", "jsonl"])
def test_a_log_format_other_than_text_or_json_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("LOG_FORMAT", value)
    with pytest.raises(
        ConfigError, match=rf"^LOG_FORMAT='{value}': accepted values are 'text' or 'json'$"
    ):
        load_config(env_file=None)


def test_a_bad_log_format_stops_every_command_with_one_line_naming_it(
    cli: RunCli, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOG_FORMAT", "xml")
    ran = cli(sqlite_url, "jobs", "list")
    assert ran.code == 2
    assert ran.err == ("starboard: LOG_FORMAT='xml': accepted values are 'text' or 'json'\n")


def test_exports_go_to_var_exports_unless_exports_dir_names_another_folder(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    assert load_config().exports_dir == Path("var") / "exports"
    monkeypatch.setenv("EXPORTS_DIR", "  ")
    assert load_config().exports_dir == Path("var") / "exports"
    monkeypatch.setenv("EXPORTS_DIR", "/srv/starboard/exports")
    assert load_config().exports_dir == Path("/srv/starboard/exports")
