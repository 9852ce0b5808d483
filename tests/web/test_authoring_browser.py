"""Instructor authoring in Chromium against a real server and worker (issue 16): a solution
added in the file editor, the worker's validation report with speed ratios and the must-fail
warning fitting its card, the version diff, and the student-view preview."""

from __future__ import annotations

import re

import pytest

from tests.web.test_browser import GRADE_TIMEOUT_MS, browser, server, shot, sign_in, sync_api

__all__ = ["browser", "server"]  # the fixtures, shared with the other browser tests

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.slow]

PARTLY_WRONG = ("import torch\n\n\ndef scale(x, alpha):\n"
                "    return x * alpha + (1 if tuple(x.shape) == (5, 7) else 0)\n")


def test_add_solution_report_diff_and_preview(server: str, browser: object) -> None:
    page = sign_in(browser, server, "ines", "/instructor/problems/web-scale")
    page.locator("#files-link").click()
    sync_api.expect(page.locator("#package-files")).to_contain_text("solutions/wrong_answer/corner.py")
    page.get_by_label("Path inside the package").fill("solutions/wrong_answer/partly.py")
    page.get_by_label("Contents").fill(PARTLY_WRONG)
    shot(page, "i16-instr-04-file-editor")
    page.get_by_role("button", name="Save as a new version and validate").click()
    sync_api.expect(page).to_have_url(re.compile(r"/instructor/problems/web-scale\?version=\d+"))
    sync_api.expect(page.locator(".flash")).to_contain_text("stored as version v2")
    result = page.locator("#validation-result")
    sync_api.expect(result).to_be_visible(timeout=GRADE_TIMEOUT_MS * 2)
    sync_api.expect(result).to_have_text("Valid")
    sync_api.expect(page.locator("#validation-warnings")).to_contain_text(
        "must-fail solution solutions/wrong_answer/partly.py passes 2 of 3 cases")
    matrix = page.locator("#verdict-matrix")
    sync_api.expect(matrix.locator("tbody tr")).to_have_count(3)
    sync_api.expect(matrix.locator("td.speed strong").first).to_have_text(re.compile(r"^[\d.]+×$"))
    sync_api.expect(page.locator("#budget-hint")).to_contain_text("the budget")
    # The table stays inside its card: its wrapper ends within the card (and scrolls if needed).
    card = page.locator("section[aria-labelledby=report-title]").bounding_box()
    wrap = page.locator(".report-wrap").bounding_box()
    assert card and wrap and wrap["x"] + wrap["width"] <= card["x"] + card["width"] + 1
    last_header = matrix.locator("thead th").last.bounding_box()
    scroll = page.locator(".report-wrap").evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert last_header and (last_header["x"] + last_header["width"] <= card["x"] + card["width"] + 1
                            or scroll[0] > scroll[1])  # visible, or reachable by scrolling the card
    shot(page, "i16-instr-01-validation-report")

    page.locator("a.diff-link").first.click()
    sync_api.expect(page.get_by_role("heading", level=1)).to_contain_text("v1 → v2")
    sync_api.expect(page.locator("#diff-summary")).to_contain_text("solutions/wrong_answer/partly.py")
    added = page.locator('section[data-path="solutions/wrong_answer/partly.py"]')
    sync_api.expect(added).to_have_attribute("data-status", "added")
    sync_api.expect(added.locator(".add").first).to_be_visible()
    shot(page, "i16-instr-02-version-diff")

    page.go_back()
    page.locator("#preview-link").click()
    sync_api.expect(page.locator("#preview-banner")).to_contain_text("Preview of version v2")
    sync_api.expect(page.get_by_role("button", name="Submit solution")).to_be_disabled()
    sync_api.expect(page.get_by_role("button", name="Run on public cases")).to_be_disabled()
    sync_api.expect(page.locator(".statement")).to_be_visible()
    shot(page, "i16-instr-03-student-preview")
    page.context.close()
