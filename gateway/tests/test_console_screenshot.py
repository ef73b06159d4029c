"""The README's screenshot of the web console (docs/img/console.png), retaken by hand:

    CAIO_TEST_CONSOLE_SCREENSHOT=docs/img/console.png \
        pytest gateway/tests/test_console_screenshot.py

A small deployment is staged on the live stack (four services, one of them
registered with no worker, and a few dozen routed requests), and the audit
view is saved with the decision of an on_prem request open: two candidates
with their scores, two exclusions with their codes. Skipped unless asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from conftest import Keys
from services import EchoModels, contract
from test_console import bearer, open_console
from test_console import browser as browser  # the fixture: Debian's Chromium, or why not

from caio_integration import parse_contract

if TYPE_CHECKING:
    from playwright.async_api import Browser
with contextlib.suppress(ImportError):  # without playwright the browser fixture says so
    from playwright.async_api import expect

SCREENSHOT = os.environ.get("CAIO_TEST_CONSOLE_SCREENSHOT")


class Timed(EchoModels):
    """An echo service with its own contract that takes about ``delay_ms`` to answer.

    The delay stands in for a model's work, so the screenshot's latency
    figures look like a deployment's; it synchronises nothing.
    """

    def __init__(self, document: dict[str, Any], delay_ms: float) -> None:
        super().__init__(document["service"]["id"])
        self.contract = parse_contract(document)
        self.delay_s = delay_ms / 1000

    async def execute(self, request: dict[str, Any], context: dict[str, Any] | None = None) -> Any:
        await asyncio.sleep(self.delay_s * random.uniform(0.7, 1.6))
        return await super().execute(request, context)


def scene_contract(
    service_id: str, capabilities: list[str], p95: int, where: str
) -> dict[str, Any]:
    document = contract(service_id, capabilities)
    document["service"]["name"] = service_id.replace("-", " ").title()
    document["service"]["guarantees"]["latency"]["bound"]["max"] = p95
    document["service"]["privacy"]["data_locality"] = where
    return document


@pytest.mark.skipif(
    not SCREENSHOT, reason="set CAIO_TEST_CONSOLE_SCREENSHOT=docs/img/console.png to retake it"
)
async def test_screenshot_of_the_console(
    browser: Browser, gateway: str, http: httpx.AsyncClient, keys: Keys, caio_host: Any
) -> None:
    workers = [
        Timed(scene_contract("chat-fast", ["chat"], 400, "cloud"), 120),
        Timed(scene_contract("chat-onprem", ["chat", "text_embedding"], 1500, "on_prem"), 320),
        Timed(scene_contract("chat-small", ["chat"], 600, "on_prem"), 180),
        Timed(scene_contract("summary-local", ["summary"], 250, "on_prem"), 45),
    ]
    for worker in workers:
        await caio_host(worker, register=True, api_key=keys.publisher)
    await http.post(  # registered, and no worker serves it: unavailable
        "/api/v1/integration/register-service",
        json={"contract": scene_contract("chat-gpu", ["chat"], 300, "on_prem")},
        headers=bearer(keys.publisher),
    )
    messages = {"messages": [{"role": "user", "content": "hello"}]}
    for n in range(24):
        body: dict[str, Any] = {"context": messages}
        if n % 3 == 0:
            body["constraints"] = {"data_locality": ["on_prem"]}
        await http.post("/api/v1/route/chat", json=body, headers=bearer(keys.caller))
        await http.post("/api/v1/route/summary", json=body, headers=bearer(keys.caller))
    await http.post("/api/v1/route/translation", json={"context": {}}, headers=bearer(keys.caller))

    page = await open_console(browser, gateway, keys.admin, view="audit")
    await page.get_by_label("Kind").select_option("route")
    await page.get_by_role("button", name="Show").click()
    # The first chat request asked for on_prem: two candidates and two exclusion codes.
    await page.locator("#audit-table tbody tr", has_text="chat").first.click()
    await expect(page.locator("#decision-excluded")).to_contain_text("privacy")
    await page.screenshot(path=str(SCREENSHOT))
