"""Expected vs got on the submission page, in Chromium against a real server and a real
sandboxed grade: a small public output side by side with its inputs, a large one as its
worst elements, the first mismatching slice and a labelled heat map; hidden cases show none."""

from __future__ import annotations

import io
import re
import zipfile

import httpx
import pytest

from tests.service.helpers import TINY
from tests.web.helpers import PASSWORDS
from tests.web.test_browser import GRADE_TIMEOUT_MS, WRONG, browser, server, set_editor, shot, sign_in, sync_api

__all__ = ["browser", "server"]  # the fixtures, shared with the other browser tests

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.slow]

MINUS = "import torch\n\n\ndef add(a, b):\n    return a - b\n"


def _publish_tiny_add(base: str) -> None:
    """Upload the tiny-add fixture as the instructor and publish it (its validation runs on
    the server's worker meanwhile; publishing does not wait for it here)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(TINY.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.writestr(f"tiny-add/{path.relative_to(TINY).as_posix()}", path.read_bytes())
    with httpx.Client(base_url=base + "/api/v1", timeout=60) as api:
        token = api.post("/auth/login", json={"name": "ines", "password": PASSWORDS["ines"]}).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        r = api.post("/admin/problems", files={"package": ("tiny-add.zip", buf.getvalue())}, headers=headers)
        assert r.status_code == 202, r.text
        version = r.json()["version"]["id"]
        r = api.post("/admin/problems/tiny-add/publish", json={"version_id": version, "force": True}, headers=headers)
        assert r.status_code == 200, r.text


def _numbers(cells: list[str]) -> list[float]:
    return [float(c) for c in cells]


def test_small_public_output_side_by_side_with_inputs(server: str, browser: object) -> None:
    _publish_tiny_add(server)
    page = sign_in(browser, server, "alice", "/problems/tiny-add")
    set_editor(page, MINUS)
    page.get_by_role("button", name="Submit solution").click()
    sync_api.expect(page.locator("#overall-verdict")).to_have_text("Wrong answer", timeout=GRADE_TIMEOUT_MS)
    small = page.locator('tr[data-case="small"]')
    view = small.locator('.evg-view[data-evg="small"]')
    sync_api.expect(view).to_be_visible()
    view.locator("details.evg-inputs summary").click()
    inputs = {name: _numbers(view.locator(f'table.evg.input:has(caption code:text-is("{name}")) td').all_inner_texts())
              for name in ("a", "b")}
    expected = _numbers(view.locator("table.evg.expected td").all_inner_texts())
    got = _numbers(view.locator("table.evg.got td").all_inner_texts())
    assert len(expected) == len(got) == len(inputs["a"]) == len(inputs["b"]) == 4
    # The values are the real ones: the reference adds, this solution subtracts.
    assert all(abs(e - (a + b)) < 1e-4 for e, a, b in zip(expected, inputs["a"], inputs["b"], strict=True))
    assert all(abs(g - (a - b)) < 1e-4 for g, a, b in zip(got, inputs["a"], inputs["b"], strict=True))
    wrong = sum(abs(e - g) > 1e-5 + 1e-5 * abs(e) for e, g in zip(expected, got, strict=True))
    sync_api.expect(view.locator("table.evg.got td.miss")).to_have_count(wrong)
    sync_api.expect(view.locator(".evg-legend")).to_contain_text(f"{wrong} value")
    # The hidden case: its verdict only.
    hidden = page.locator('tr[data-case="hidden"]')
    sync_api.expect(hidden).to_contain_text("Hidden case")
    assert hidden.locator(".evg-view").count() == 0
    shot(page, "i16-05-expected-vs-got-small")
    page.context.close()


def test_large_public_output_worst_elements_slice_and_labelled_heatmap(server: str, browser: object) -> None:
    page = sign_in(browser, server, "bob", "/problems/web-scale")
    set_editor(page, WRONG)
    page.get_by_role("button", name="Submit solution").click()
    sync_api.expect(page.locator("#overall-verdict")).to_have_text("Wrong answer", timeout=GRADE_TIMEOUT_MS)
    small = page.locator('tr[data-case="small"]')
    view = small.locator('.evg-view[data-evg="large"]')
    sync_api.expect(view).to_be_visible()
    worst = view.locator("table.evg.worst tbody tr")
    sync_api.expect(worst).to_have_count(8)
    # WRONG adds 1.0 to the last 3 rows x 4 columns of the 12 x 20 output.
    for row in worst.all():
        index = [int(i) for i in re.findall(r"\d+", row.locator("th code").inner_text())]
        assert index[0] >= 9 and index[1] >= 16, index
        expected, got = (float(x) for x in row.locator("td").all_inner_texts()[:2])
        assert abs((got - expected) - 1.0) < 1e-3
    sync_api.expect(view.locator("table.evg.slice caption")).to_contain_text(re.compile(r"y\[9, \d+:\d+\]"))
    assert view.locator("table.evg.slice td.miss").count() == 2 * 4  # expected and got rows
    sync_api.expect(small.locator("svg.heatmap")).to_be_visible()
    sync_api.expect(small.locator(".heat-cols")).to_contain_text("dim 1 (size 20)")
    sync_api.expect(small.locator(".heat-rows")).to_contain_text("dim 0 (size 12)")
    assert page.locator('tr[data-case="hidden"] .evg-view').count() == 0
    shot(page, "i16-06-expected-vs-got-large")
    page.context.close()
