"""The admin's translation catalogs (app/admin/library.py `CatalogsMergedOnce`): merged into the
process's catalogs by the first admin made, and the same for every admin made after it."""

from __future__ import annotations

from starlette_admin.i18n import translations

from app.admin.library import CatalogsMergedOnce
from app.main import create_app
from tests.conftest import make_config


def catalog_sizes() -> dict[str, int]:
    return {locale: len(getattr(t, "_catalog", {})) for locale, t in translations.items()}


def test_every_admin_made_reads_the_catalogs_the_first_one_merged(sqlite_url: str) -> None:
    CatalogsMergedOnce._merged = None  # as in a process that has made no admin yet
    create_app(make_config(sqlite_url))
    merged = catalog_sizes()
    french = translations["fr"].gettext("Delete")

    for _ in range(2):
        create_app(make_config(sqlite_url))
        assert catalog_sizes() == merged
        assert translations["fr"].gettext("Delete") == french
    assert french != "Delete"  # the core catalog is there to read
