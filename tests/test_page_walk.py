"""Every admin page, walked once in Chromium: axe-core's WCAG 2 A/AA checks pass, light and
dark, and the page works under the content policy (no violation, console error or uncaught
exception; tests/test_security_headers.py has the policy's own tests and its widget walk)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

import tests.test_security_headers as policy_walk
from tests.test_security_headers import (
    MODEL_KEYS,
    READ_ONLY,
    first_id,
    model_pages,
    signed_in,
)

# The CSP walk's served demo shop, a module fixture here too: one app for this module's tests.
shop = policy_walk.shop

# Deque's engine, installed from npm with the site's htmx (package.json, `make test`).
AXE = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"

# The impacts that fail a page; "moderate" and "minor" ones are advice.
FAILING = ("critical", "serious")

# The page as it stays: the library's ready handlers have drawn its widgets, and the tasks they
# queued (static/accessibility.js naming them) have run.
SETTLED = "() => new Promise((done) => window.jQuery(() => setTimeout(done)))"

# axe's default rules (WCAG 2 A and AA and its best practices) on the settled page; its
# findings, trimmed.
RUN_AXE = """async (only) => {
    await new Promise((done) => window.jQuery(() => setTimeout(done)));  // as SETTLED
    // No details of what passed, and no second fetch of every stylesheet: both cost time.
    const options = {resultTypes: ["violations"], preload: false};
    if (only) options.runOnly = {type: "rule", values: only};
    const result = await axe.run(document, options);
    return result.violations.map((v) => ({
        id: v.id, impact: v.impact, targets: v.nodes.map((n) => n.target.join(" ")),
    }));
}"""

# The dark theme on the page as it is, its colour transitions taken to their ends at once (the
# colours they end on, without waiting out their durations: a third of a second a page).
DARK = """() => {
    document.documentElement.setAttribute("data-bs-theme", "dark");
    for (const moving of document.getAnimations()) {
        if (moving instanceof CSSTransition) moving.finish();
    }
}"""


class AxeWalk:
    """axe-core on each page the browser shows, in the light theme and then the dark one."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.found: list[str] = []
        # Evaluated in each document by the browser itself: the content policy does not apply.
        page.add_init_script(path=str(AXE))

    def check(self, name: str | None = None, *, dark: bool = True) -> None:
        where = name or self.page.url.split("/admin", 1)[-1] or "/"
        self.record(where, self.page.evaluate(RUN_AXE, None))
        if not dark:
            return
        # The dark theme changes colours only: contrast is what it can break.
        self.page.evaluate(DARK)
        self.record(f"{where} (dark)", self.page.evaluate(RUN_AXE, ["color-contrast"]))

    def record(self, where: str, violations: list[dict[str, Any]]) -> None:
        for violation in violations:
            if violation["impact"] in FAILING:
                targets = ", ".join(violation["targets"][:3])
                count = len(violation["targets"])
                self.found.append(
                    f"{violation['id']} ({violation['impact']}) on {where}: "
                    f"{count} element(s), e.g. {targets}"
                )


# The models whose pages, between them, hold every kind of widget and cell the admin draws
# (dates, choices, relations, many-to-many chips, inline rows, JSON, long text): their pages are
# checked in the dark theme too. Every other page shares their templates and colours, so the
# dark pass there would repeat the same contrast checks at the walk's most expensive step.
DARK_MODELS = {"audit", "order", "product", "user"}


# The models in two halves, so that two workers share the walk; the site's own pages below.
@pytest.mark.browser
@pytest.mark.parametrize("keys", [MODEL_KEYS[0::2], MODEL_KEYS[1::2]], ids=["half1", "half2"])
def test_every_model_page_passes_axe_and_works_under_the_policy(
    new_page: Page, shop: tuple[str, Path], keys: list[str]
) -> None:
    base_url, _ = shop
    page = new_page
    walk = AxeWalk(page)
    watch = signed_in(page, base_url)

    opened = []
    for path in model_pages(watch, base_url, keys):
        walk.check(dark=path.split("/")[2] in DARK_MODELS)
        if not path.endswith("/list"):
            opened.append(path)

    # Every model has a row here; records that only the app writes have no create or edit page.
    assert sorted(opened) == sorted(
        f"/admin/{key}/{kind}"
        for key in keys
        for kind in (("detail",) if key in READ_ONLY else ("create", "detail", "edit"))
    )
    assert watch.problems == []
    assert walk.found == [], json.dumps(walk.found, indent=1)


@pytest.mark.browser
def test_every_own_page_passes_axe_and_works_under_the_policy(
    new_page: Page, shop: tuple[str, Path], tmp_path: Path
) -> None:
    base_url, db = shop
    page = new_page
    walk = AxeWalk(page)
    watch = signed_in(page, base_url, at_login=lambda: walk.check("/login (signed out)"))
    walk.check()  # the dashboard

    # Live settings: a save through the field's htmx form, that setting's history, an import.
    watch.visit(f"{base_url}/admin/settings")
    walk.check()
    field = page.locator('[data-sb-setting="LOW_STOCK_THRESHOLD"]')
    field.locator("input[name=value]").fill("12")
    field.get_by_role("button", name="Save").click()
    expect(page.locator('[data-sb-setting="LOW_STOCK_THRESHOLD"] [data-sb-saved]')).to_be_visible()
    watch.visit(f"{base_url}/admin/settings/LOW_STOCK_THRESHOLD/history")
    expect(page.get_by_role("row", name=re.compile(r" admin \(default\) 12 "))).to_be_visible()
    walk.check()
    watch.visit(f"{base_url}/admin/settings")
    export = tmp_path / "settings.json"
    export.write_bytes(page.request.get(f"{base_url}/admin/settings/export").body())
    page.set_input_files("#settings-import-file", export)
    page.get_by_role("button", name="Show the changes").click()
    expect(page.locator("#sb-import")).to_be_visible()

    # Jobs: the list, one job, Run now (queued: this app runs no scheduler), the run's page.
    watch.visit(f"{base_url}/admin/jobs")
    expect(page.get_by_text("low_stock_report").first).to_be_visible()
    walk.check()
    watch.visit(f"{base_url}/admin/jobs/low_stock_report")
    walk.check()  # as it opens: after a click the pressed button's colours are mid-transition
    page.locator("[data-sb-run-now]").first.click()
    expect(page.locator("[data-sb-feedback]").first).to_contain_text("queued")
    run = first_id(db, "job_run")
    # The history re-fetches itself to show the run; leaving earlier would abort that request.
    expect(page.locator(f'#sb-job-runs tr[data-sb-run="{run}"]')).to_be_visible()
    watch.visit(f"{base_url}/admin/jobs/low_stock_report/runs/{run}")
    expect(page.get_by_text(f"#{run}").first).to_be_visible()
    walk.check()

    watch.visit(f"{base_url}/admin/notifications")
    expect(page.get_by_text("Stock is low").first).to_be_visible()
    walk.check()
    watch.visit(f"{base_url}/admin/notifications/send")
    expect(page.locator("#sb-send")).to_be_visible()
    walk.check()
    # Global search: the page, and the header's live results as one types.
    watch.visit(f"{base_url}/admin/search?q=a")
    expect(page.locator("[data-sb-search-page]")).to_be_visible()
    walk.check()
    page.keyboard.press("Control+k")
    page.keyboard.type("Stock")
    expect(page.locator("#sb-search-results")).to_be_visible()
    watch.visit(f"{base_url}/admin/audit/list")
    expect(page.locator("tr[data-sa-pk]").first).to_be_visible()
    # The user's own account: the theme's first script, the forms, the activity, the second
    # factor's page (its code page at sign-in: tests/auth/test_two_factor_browser.py).
    for own, shown in [
        ("preferences", "#sb-preferences"),
        ("password", "#sb-password"),
        ("activity", "tr[data-sb-activity-entry]"),
        ("two-factor", "[data-sb-qr-code] svg"),
    ]:
        watch.visit(f"{base_url}/admin/account/{own}")
        expect(page.locator(shown).first).to_be_visible()
        walk.check()

    # Refusals: the site's error page, and the admin's own.
    watch.visit(f"{base_url}/admin/jobs/no_such_job", status=404, admin=False)
    expect(page.locator("[data-sb-error-message]")).to_be_visible()
    watch.visit(f"{base_url}/admin/product/detail?pk=999999", status=404)

    assert watch.problems == []
    assert walk.found == [], json.dumps(walk.found, indent=1)


# --- Focus: every control the keyboard reaches shows a ring -----------------------------------

# The focused element, described, and the ring it draws (outline, else box-shadow), if any.
FOCUSED = """() => {
    const element = document.activeElement;
    const style = getComputedStyle(element);
    const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
    return {
        element: element.tagName.toLowerCase() + (element.id ? "#" + element.id : "") + " " +
            (element.getAttribute("class") || "") + " " +
            (element.textContent || "").trim().slice(0, 20),
        kind: element.closest("aside") ? "sidebar" : element.closest("header") ? "header"
            : element.closest(".pagination") ? "pagination"
            : element.matches("[data-sa-hook=sort-link]") ? "sort link"
            : element.matches("input[type=checkbox]") ? "checkbox"
            : element.matches(".select2-selection, .select2-search__field, select") ? "select"
            : element.tagName.toLowerCase(),
        ring: outline ? `${style.outlineWidth} ${style.outlineStyle} ${style.outlineColor}`
            : style.boxShadow !== "none" ? style.boxShadow : null,
    };
}"""


def tab_through(page: Page, stops: int) -> list[dict[str, str]]:
    """What the Tab key reaches, in order, from the top of the page (up to `stops`, or until
    it leaves the page's last control), and each one's ring."""
    seen = []
    for _ in range(stops):
        page.keyboard.press("Tab")
        stop = page.evaluate(FOCUSED)
        if stop["kind"] == "body":
            break
        seen.append(stop)
    return seen


@pytest.mark.browser
def test_every_control_the_keyboard_reaches_shows_a_focus_ring(
    new_page: Page, shop: tuple[str, Path]
) -> None:
    base_url, _ = shop
    page = new_page
    watch = signed_in(page, base_url)

    watch.visit(f"{base_url}/admin/product/list?page_size=10")
    stops = tab_through(page, 90)
    watch.visit(f"{base_url}/admin/product/create")
    page.evaluate(SETTLED)
    stops += tab_through(page, 40)

    # Every control kind the pages have was reached: the walk covered them all.
    kinds = {stop["kind"] for stop in stops}
    assert {"sidebar", "header", "a", "button", "input", "select", "checkbox"} <= kinds, kinds
    assert {"sort link", "pagination", "textarea"} <= kinds, kinds
    ringless = [stop["element"] for stop in stops if stop["ring"] is None]
    assert ringless == [], ringless
    # The ring is the site's own (static/accessibility.css): 2px, solid, not the browser's.
    outlines = {stop["ring"] for stop in stops if stop["ring"] and "solid" in stop["ring"]}
    assert outlines <= {"2px solid rgb(5, 89, 168)", "2px solid rgb(147, 197, 253)"}, outlines


# --- The sidebar: the window's full height, however long the page -----------------------------

SIDEBAR = """() => {
    const box = document.querySelector("aside").getBoundingClientRect();
    return {top: box.top, bottom: box.bottom, window: innerHeight,
            page: document.documentElement.scrollHeight};
}"""


@pytest.mark.browser
def test_the_sidebar_spans_the_window_at_the_top_and_the_bottom_of_a_long_page(
    new_page: Page, shop: tuple[str, Path]
) -> None:
    base_url, _ = shop
    page = new_page
    watch = signed_in(page, base_url)
    longest = 0
    for path in ("/admin/order/list?page_size=50", "/admin/settings", "/admin/jobs"):
        watch.visit(f"{base_url}{path}")
        at_top = page.evaluate(SIDEBAR)
        longest = max(longest, at_top["page"] // at_top["window"])
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        at_bottom = page.evaluate(SIDEBAR)
        for box in (at_top, at_bottom):
            assert (box["top"], box["bottom"]) == (0, box["window"]), (path, box)
    assert longest >= 2  # a page twice the window's height, at least, was among them
    assert watch.problems == []
