"""/docs renders in Chromium with every request off this server refused (no CDN needed)."""

from __future__ import annotations

import pytest

from tests.web.test_browser import browser, server, shot, sync_api

__all__ = ["browser", "server"]  # the fixtures, shared with the other browser tests

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_api_docs_render_with_no_network(server: str, browser: object) -> None:
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    elsewhere: list[str] = []

    def only_this_server(route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        if url.startswith(server):
            route.continue_()  # type: ignore[attr-defined]
        else:
            elsewhere.append(url)
            route.abort()  # type: ignore[attr-defined]

    page.route("**/*", only_this_server)
    page.goto("/docs")
    sync_api.expect(page.locator(".swagger-ui .info .title")).to_contain_text("TensorJudge", timeout=20_000)
    sync_api.expect(page.locator(".opblock-tag", has_text="auth").first).to_be_visible()
    assert elsewhere == []
    shot(page, "i16-04-api-docs-offline")
    context.close()
