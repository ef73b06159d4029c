"""The web console at /ui, in a real headless Chromium against the live gateway.

The browser is Debian's ``chromium`` (``.ci/run`` installs it), driven with
playwright's Python API through ``executable_path``: playwright's own
browser download is never used. Without a ``chromium`` binary the browser
tests are skipped, except in CI (``CI`` or ``CAIO_TEST_CI`` set), where
that is a failure: the console must be tested there.

Waiting is playwright's: ``expect`` retries an assertion until the page
shows it (or 10 s pass), so no test sleeps for the page to catch up.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from conftest import Keys, Services
from services import contract

from caio_gateway.console import ASSETS, CONTENT_SECURITY_POLICY
from caio_integration.client import CAIOClient
from caio_integration.wire import ApiKeyInfo, AuditKind, AuditOutcome

try:
    from playwright.async_api import Browser, Page, async_playwright, expect
except ImportError:
    PLAYWRIGHT_MISSING: str | None = "playwright is not installed (pip install -e '.[test]')"
else:
    PLAYWRIGHT_MISSING = None
    expect.set_options(timeout=10_000)

CONSOLE = Path(__file__).resolve().parents[1] / "caio_gateway" / "console"
# Markup that would run if the console ever parsed data as HTML: it leaves a mark.
MARKUP = '<script>window.__pwned = 1</script><img src="x" onerror="window.__pwned = 2">'


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def in_ci() -> bool:
    return any(
        os.environ.get(name, "") not in ("", "0", "false") for name in ("CI", "CAIO_TEST_CI")
    )


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, driven by playwright."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    reason = PLAYWRIGHT_MISSING or (
        None if binary else "no chromium binary (apt-get install chromium; .ci/run does)"
    )
    if reason is not None:
        if in_ci():
            pytest.fail(f"the web console must be tested in CI, but {reason}", pytrace=False)
        pytest.skip(reason)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=binary)
        yield launched
        await launched.close()


async def open_console(browser: Browser, gateway: str, key: str, view: str = "services") -> Page:
    """The console in a fresh tab, with ``key`` typed into its key field."""
    page = await browser.new_page(viewport={"width": 1200, "height": 800})
    await page.goto(f"{gateway}/ui#{view}")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Use key").click()
    return page


@pytest.fixture
async def markup_service(http: httpx.AsyncClient, keys: Keys, caio_prefix: str) -> str:
    """A chat service with markup in its name and description, and no worker: unavailable."""
    document = contract(f"markup-{caio_prefix}", ["chat"])
    document["service"].update(name=MARKUP, description=f"described as {MARKUP}")
    registered = await http.post(
        "/api/v1/integration/register-service",
        json={"contract": document},
        headers=bearer(keys.publisher),
    )
    assert registered.status_code == 200, registered.text
    return str(document["service"]["id"])


async def chat(http: httpx.AsyncClient, key: str, times: int = 1) -> None:
    for n in range(times):
        response = await http.post(
            "/api/v1/route/chat",
            json={"context": {"messages": [{"role": "user", "content": f"hello {n}"}]}},
            headers=bearer(key),
        )
        assert response.status_code == 200, response.text


# -- the page and its endpoints, over plain HTTP ------------------------------------------


async def test_the_console_is_one_static_page_served_with_a_strict_content_policy(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/ui")
    script = await http.get("/ui/console.js")
    style = await http.get("/ui/console.css")
    slash = await http.get("/ui/")

    assert page.status_code == script.status_code == style.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert script.headers["content-type"].startswith("text/javascript")
    assert style.headers["content-type"].startswith("text/css")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    assert (slash.status_code, slash.headers["location"]) == (308, "../ui")
    assert sorted(path.name for path in CONSOLE.iterdir()) == sorted(ASSETS)


def test_the_console_script_never_parses_data_as_html() -> None:
    script = (CONSOLE / "console.js").read_text()

    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script


def test_the_audit_filters_offer_exactly_the_protocols_kinds_and_outcomes() -> None:
    class Options(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.select: str | None = None
            self.found: dict[str, list[str]] = {}

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "select":
                self.select = dict(attrs)["name"]
                self.found[str(self.select)] = []

        def handle_data(self, data: str) -> None:
            if self.select and self.lasttag == "option" and data.strip():
                self.found[self.select].append(data.strip())

    options = Options()
    options.feed((CONSOLE / "index.html").read_text())

    assert options.found["kind"] == ["any", *get_args(AuditKind)]
    assert options.found["outcome"] == ["any", *get_args(AuditOutcome)]


async def test_stats_give_each_services_bound_beside_what_the_router_observed(
    http: httpx.AsyncClient, keys: Keys, services: Services
) -> None:
    await chat(http, keys.caller, times=3)

    response = await http.get("/api/v1/stats", headers=bearer(keys.caller))
    only_summary = await http.get(
        "/api/v1/stats", params={"capability": "summary"}, headers=bearer(keys.caller)
    )

    assert response.status_code == 200, response.text
    echo = next(s for s in response.json()["services"] if s["service_id"] == services.echo_id)
    assert echo["contract"]["p95_latency_ms"] == 2000
    assert echo["observed"]["samples"] == 3
    assert echo["observed"]["p50_ms"] > 0
    assert [s["service_id"] for s in only_summary.json()["services"]] == [services.plain_id]


async def test_keys_are_listed_for_admins_only_and_without_secrets(
    http: httpx.AsyncClient, keys: Keys
) -> None:
    listed = await http.get("/api/v1/keys", headers=bearer(keys.admin))
    refused = await http.get("/api/v1/keys", headers=bearer(keys.caller))

    assert listed.status_code == 200, listed.text
    assert sorted(k["name"] for k in listed.json()["keys"]) == [
        "test-admin",
        "test-caller",
        "test-publisher",
    ]
    assert all(set(k) <= set(ApiKeyInfo.model_fields) for k in listed.json()["keys"])
    assert keys.admin not in listed.text
    assert keys.admin.rsplit("_", 1)[-1] not in listed.text  # nor the secret part alone
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"


# -- the console in a browser -------------------------------------------------------------


async def test_the_services_view_shows_each_service_live_with_its_bound_and_observed_latency(
    browser: Browser,
    gateway: str,
    http: httpx.AsyncClient,
    keys: Keys,
    services: Services,
    markup_service: str,
) -> None:
    await chat(http, keys.caller, times=4)

    page = await open_console(browser, gateway, keys.caller)
    echo = page.locator(f'#services-table tr[data-service="{services.echo_id}"]')
    absent = page.locator(f'#services-table tr[data-service="{markup_service}"]')

    await expect(echo.locator(".samples")).to_have_text("4")
    await expect(echo.locator(".bound")).to_have_text("≤ 2000 ms")
    await expect(echo.locator(".p50")).to_have_text(re.compile(r"^\d+\.\d ms$"))
    await expect(echo.locator(".p95")).to_have_text(re.compile(r"^\d+\.\d ms$"))
    await expect(echo.locator(".status")).to_contain_text("available 1 live")
    await expect(echo).to_contain_text("text_embedding")
    await expect(absent.locator(".status")).to_contain_text("unavailable 0 live")
    await expect(absent.locator(".samples")).to_have_text("0")


async def test_a_services_contract_opens_as_json(
    browser: Browser, gateway: str, keys: Keys, services: Services
) -> None:
    page = await open_console(browser, gateway, keys.caller)

    await (
        page.locator(f'tr[data-service="{services.plain_id}"]')
        .get_by_role("button", name="contract")
        .click()
    )

    panel = page.locator("#contract")
    await expect(panel.locator("h3")).to_have_text(
        re.compile(rf"^Contract of {services.plain_id} \(revision \d+\)$")
    )
    await expect(panel.locator("pre")).to_contain_text('"p95_latency_ms"')
    await expect(panel.locator(".download")).to_have_attribute(
        "download", f"{services.plain_id}.json"
    )


async def test_markup_in_a_service_is_shown_as_text_and_never_run(
    browser: Browser, gateway: str, keys: Keys, services: Services, markup_service: str
) -> None:
    page = await open_console(browser, gateway, keys.caller)
    row = page.locator(f'tr[data-service="{markup_service}"]')

    await expect(row.locator(".sub")).to_have_text(f"{MARKUP} · v1.0.0")
    await row.get_by_role("button", name="contract").click()
    await expect(page.locator("#contract .description")).to_contain_text(f"described as {MARKUP}")

    assert await page.evaluate("window.__pwned") is None
    assert await page.locator("main script, main img").count() == 0


async def test_the_audit_view_filters_records_and_opens_a_decision_with_its_exclusion_codes(
    browser: Browser,
    gateway: str,
    http: httpx.AsyncClient,
    keys: Keys,
    services: Services,
    markup_service: str,
) -> None:
    await chat(http, keys.caller, times=2)
    nobody = await http.post(
        "/api/v1/route/translation", json={"context": {}}, headers=bearer(keys.caller)
    )
    assert nobody.status_code == 503

    page = await open_console(browser, gateway, keys.admin, view="audit")
    await page.get_by_label("Kind").select_option("route")
    await page.get_by_label("Outcome").select_option("ok")
    await page.get_by_role("button", name="Show").click()
    rows = page.locator("#audit-table tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text(services.echo_id)
    await rows.first.click()

    decision = page.locator("#decision")
    await expect(decision.locator("#decision-candidates tbody tr")).to_have_count(1)
    await expect(decision.locator("#decision-candidates")).to_contain_text(services.echo_id)
    await expect(decision.locator("#decision-candidates")).to_contain_text("chosen")
    excluded = decision.locator("#decision-excluded tbody tr")
    await expect(excluded).to_have_count(1)
    await expect(excluded).to_contain_text(markup_service)
    await expect(excluded.locator("code")).to_have_text("unavailable")
    await expect(decision.locator("#decision-attempts")).to_contain_text("ok")

    await page.get_by_label("Outcome").select_option("no_match")
    await page.get_by_role("button", name="Show").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("translation")


async def test_the_keys_view_lists_roles_and_limits_and_no_secret(
    browser: Browser, gateway: str, keys: Keys, caio_nc: Any, caio_prefix: str
) -> None:
    admin = CAIOClient(nc=caio_nc, prefix=caio_prefix, api_key=keys.admin)
    made = await admin.create_key(
        "limited",
        "caller",
        capabilities=["chat"],
        services=["echo-*"],
        expires_in_s=3600,
        policy={"requests_per_minute": 30, "data_locality": ["on_prem"]},
    )

    page = await open_console(browser, gateway, keys.admin, view="keys")
    limited = page.locator('#keys-table tr[data-key="limited"]')

    await expect(page.locator("#keys-table tbody tr")).to_have_count(4)
    await expect(limited).to_contain_text("caller")
    await expect(limited).to_contain_text("echo-*")
    await expect(limited).to_contain_text("30/min; data in on_prem")
    await expect(limited).to_contain_text("active")
    await expect(page.locator('tr[data-key="test-admin"]')).to_contain_text("never")
    text = await page.locator("main").inner_text()
    assert made["secret"] not in text
    assert keys.admin not in text


async def test_a_callers_key_sees_the_services_and_is_told_the_audit_is_for_admins(
    browser: Browser, gateway: str, keys: Keys, services: Services
) -> None:
    page = await open_console(browser, gateway, keys.caller)
    await expect(page.locator(f'tr[data-service="{services.echo_id}"]')).to_be_visible()

    await page.get_by_role("link", name="Audit").click()

    await expect(page.locator("#audit .error")).to_contain_text("forbidden")
    await expect(page.locator("#audit .error")).to_contain_text("HTTP 403")


async def test_forgetting_the_key_clears_what_it_could_read(
    browser: Browser, gateway: str, keys: Keys, services: Services
) -> None:
    page = await open_console(browser, gateway, keys.caller)
    echo = page.locator(f'tr[data-service="{services.echo_id}"]')
    await echo.get_by_role("button", name="contract").click()
    await expect(page.locator("#contract pre")).to_contain_text(services.echo_id)

    await page.get_by_role("button", name="Forget").click()

    await expect(page.locator("#services-table tbody tr")).to_have_count(0)
    await expect(page.locator("#contract")).to_be_hidden()
    await expect(page.locator("#contract pre")).to_have_text("")
    assert await page.evaluate("sessionStorage.length") == 0


async def test_a_registry_records_decision_says_what_changed_and_ranks_nothing(
    browser: Browser, gateway: str, keys: Keys, services: Services
) -> None:
    page = await open_console(browser, gateway, keys.admin, view="audit")
    await page.get_by_label("Kind").select_option("registry")
    await page.get_by_label("Service").fill(services.plain_id)
    await page.get_by_role("button", name="Show").click()

    await page.locator("#audit-table tbody tr").first.click()

    decision = page.locator("#decision")
    await expect(decision.locator("dt:text-is('Action') + dd")).to_have_text("registered")
    await expect(decision.locator("dt:text-is('Caller') + dd")).to_have_text("test-publisher")
    await expect(decision.locator("h4")).to_have_count(0)
