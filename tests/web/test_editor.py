"""The editor on a problem's page, in Chromium against a real server and worker: CodeMirror
beside the statement, pre-filled with the starter then the last attempt, a draft kept across
reloads, tabs for package problems, upload and editor never silently dropping one another,
trial runs, and a phone-width layout that does not overflow."""

from __future__ import annotations

import re

import pytest

from tests.web.test_browser import (
    ACCEPTED,
    GRADE_TIMEOUT_MS,
    WRONG,
    browser,
    server,
    set_editor,
    shot,
    sign_in,
    sync_api,
)

__all__ = ["browser", "server"]  # the fixtures, shared with the other browser tests

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.slow]


def _code(page: object) -> str:
    editor = page.locator(".editor-file:not([hidden]) .CodeMirror")  # type: ignore[attr-defined]
    return str(editor.evaluate("el => el.CodeMirror.getValue()"))


def test_editor_beside_statement_prefilled_and_kept_across_reloads(server: str, browser: object) -> None:
    page = sign_in(browser, server, "bob", "/problems/web-scale")
    editor = page.locator(".editor-file:not([hidden]) .CodeMirror")
    sync_api.expect(editor).to_be_visible()
    assert "def scale" in _code(page) and "NotImplementedError" in _code(page)  # the starter
    # Highlighting and line numbers come from CodeMirror's python mode.
    sync_api.expect(editor.locator(".cm-keyword").first).to_have_text(re.compile("import|def"))
    assert editor.locator(".CodeMirror-linenumber").count() >= 5
    statement = page.locator(".statement").bounding_box()
    box = editor.bounding_box()
    assert statement and box and box["x"] > statement["x"] + statement["width"] - 1  # to its right
    assert box["y"] < statement["y"] + statement["height"]  # side by side, not below
    shot(page, "i16-01-editor-beside-statement-prefilled")

    # Typing is kept in this browser across a reload.
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\n# my note 42")
    sync_api.expect(page.locator("#draft-status")).to_contain_text("Draft saved")
    page.reload()
    sync_api.expect(page.locator("#draft-status")).to_contain_text("Restored your draft")
    assert _code(page).rstrip().endswith("# my note 42")

    # After a submission the page opens with that attempt (the draft is gone).
    set_editor(page, ACCEPTED)
    page.get_by_role("button", name="Submit solution").click()
    sync_api.expect(page.locator("#overall-verdict")).to_have_text("Accepted", timeout=GRADE_TIMEOUT_MS)
    page.goto("/problems/web-scale")
    assert _code(page) == ACCEPTED
    page.get_by_role("button", name=re.compile("Reset")).click()
    page.wait_for_load_state()
    assert _code(page) == ACCEPTED
    page.context.close()


def test_upload_and_editor_never_drop_each_other(server: str, browser: object) -> None:
    page = sign_in(browser, server, "bob", "/problems/web-scale")
    set_editor(page, WRONG)
    page.get_by_label(re.compile("upload files")).set_input_files(
        files=[{"name": "solution.py", "mimeType": "text/x-python", "buffer": ACCEPTED.encode()}])
    # Choosing a file says so and selects it as what will be sent...
    sync_api.expect(page.get_by_label("the uploaded files")).to_be_checked()
    sync_api.expect(page.locator("#draft-status")).to_contain_text("uploaded files will be sent")
    # ...and asking for the editor's code while a file is chosen is refused, not guessed.
    page.get_by_label("the editor's code").check()
    page.get_by_role("button", name="Submit solution").click()
    sync_api.expect(page.locator("#form-error")).to_contain_text("You chose files to upload")
    assert _code(page) == WRONG  # what was typed is still there
    # An empty editor is refused too, with a message on the form.
    set_editor(page, "   \n")
    page.get_by_role("button", name="Submit solution").click()
    sync_api.expect(page.locator("#form-error")).to_contain_text("empty")
    page.context.close()


def test_trial_run_on_public_cases_counts_nowhere(server: str, browser: object) -> None:
    page = sign_in(browser, server, "ines", "/problems/web-scale")
    before = page.goto("/problems/web-scale/leaderboard")
    assert before is not None and before.ok
    ranked = page.locator("table.leaderboard tbody tr").count()
    page.goto("/problems/web-scale")
    set_editor(page, WRONG)
    page.get_by_role("button", name="Run on public cases").click()
    sync_api.expect(page).to_have_url(re.compile(r"/submissions/\d+$"))
    sync_api.expect(page.get_by_role("heading", name=re.compile("Trial run"))).to_be_visible()
    sync_api.expect(page.locator("#overall-verdict")).to_have_text("Wrong answer", timeout=GRADE_TIMEOUT_MS)
    sync_api.expect(page.locator("tr.case")).to_have_count(1)  # the public case only
    small = page.locator('tr[data-case="small"]')
    sync_api.expect(small.locator(".evg-view")).to_be_visible()  # full feedback
    shot(page, "i16-02-trial-run")
    trial_id = page.url.rsplit("/", 1)[1]
    page.goto("/submissions")
    assert page.locator(f'a[href="/submissions/{trial_id}"]').count() == 0
    page.goto("/problems/web-scale/leaderboard")
    assert page.locator("table.leaderboard tbody tr").count() == ranked
    page.context.close()


def test_package_problem_has_file_tabs(server: str, browser: object) -> None:
    page = sign_in(browser, server, "alice", "/problems/multi-head-matmul")
    tabs = page.locator(".editor-tabs .tab")
    sync_api.expect(tabs).to_have_count(1)
    sync_api.expect(tabs.first).to_have_text("src/functional.py")
    page.get_by_label("New file path").fill("src/__init__.py")
    page.get_by_role("button", name="Add file").click()
    sync_api.expect(tabs).to_have_count(2)
    sync_api.expect(page.locator(".editor-tabs .tab.active")).to_have_text("src/__init__.py")
    page.keyboard.type("from .functional import *\n")
    tabs.first.click()
    assert "def matmul_with_multi_head" in _code(page)
    page.reload()
    sync_api.expect(tabs).to_have_count(2)  # the draft keeps both files
    assert page.locator('input[name="paths"][value="src/__init__.py"]').count() == 1
    page.context.close()


@pytest.mark.parametrize("path", ["/", "/problems/web-scale", "/problems/multi-head-matmul", "/submissions",
                                  "/leaderboard", "/tokens"])
def test_phone_width_does_not_overflow(server: str, browser: object, path: str) -> None:
    context = browser.new_context(base_url=server, viewport={"width": 375, "height": 812})  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill("alice-password")
    page.get_by_role("button", name="Sign in").click()
    page.goto(path)
    page.wait_for_load_state("networkidle")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"{path} is {width}px wide on a 375px screen"
    if path == "/problems/web-scale":
        shot(page, "i16-03-mobile-problem")
    context.close()
