"""The similarity report (copydetect's winnowing): a copied submission with renamed variables
and new comments is paired with its source; independent code and the starter everyone was
given are not; only each student's latest counted submission is compared (trial runs left
out); students cannot reach the report. Real fingerprints on real submission rows (SQLite)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.main import create_app
from cli.main import app as cli_app
from core.db.models import Role, Submission
from core.settings import Settings

from .helpers import RecordingDispatcher, add_user, auth, publish_tiny
from .servers import app_in_thread

ORIGINAL = b'''def add(a, b):
    """Add two tensors, broadcasting the smaller one over the larger one's leading dims."""
    left, right = a, b
    if left.dim() < right.dim():
        left, right = right, left
    while right.dim() < left.dim():
        right = right.unsqueeze(0)
    total = left + right
    for axis in range(total.dim()):
        if total.shape[axis] == 0:
            return total
    result = total.clone()
    result = result.contiguous()
    return result
'''
# The same code with every name changed, comments rewritten and blank lines moved.
RENAMED = b'''def add(a, b):
    # sum of the two inputs
    x, y = a, b

    if x.dim() < y.dim():
        x, y = y, x
    while y.dim() < x.dim():
        y = y.unsqueeze(0)
    s = x + y
    for d in range(s.dim()):
        if s.shape[d] == 0:
            return s
    out = s.clone()
    out = out.contiguous()
    return out
'''
ANOTHER = b'''def add(a, b):
    try:
        return a.add(b)
    except RuntimeError:
        pass
    values = [float(v) for v in a.flatten().tolist()]
    return sum(values) + b
'''
OWN = b'''import torch


def add(a, b):
    parts = torch.broadcast_tensors(a, b)
    stacked = torch.stack(parts, dim=0)
    return stacked.sum(dim=0)
'''


def _submit(client: TestClient, token: str, source: bytes) -> int:
    r = client.post("/api/v1/submissions", data={"problem": "tiny-add"}, files=[("files", ("s.py", source))],
                    headers=auth(token))
    assert r.status_code in (200, 201, 202), r.text
    return int(r.json()["id"])


def test_copied_code_is_paired_and_independent_code_is_not(client: TestClient, session: Session) -> None:
    publish_tiny(session)
    staff = add_user(session, "ines", Role.INSTRUCTOR)
    tokens = {name: add_user(session, name, Role.STUDENT) for name in ("ann", "bob", "cat", "dan")}
    session.commit()
    ann = _submit(client, tokens["ann"], ORIGINAL)
    bob = _submit(client, tokens["bob"], RENAMED)
    _submit(client, tokens["cat"], OWN)
    _submit(client, tokens["dan"], ORIGINAL)  # dan's latest is his own: the early copy is not compared
    dan = _submit(client, tokens["dan"], ANOTHER)
    trial = _submit(client, tokens["cat"], ORIGINAL)
    row = session.get(Submission, trial)
    assert row is not None
    row.kind = "trial"  # cat's later copy was only a trial run: her counted latest is her own code
    session.commit()

    report = client.get("/api/v1/problems/tiny-add/similarity", headers=auth(staff))
    assert report.status_code == 200, report.text
    pairs = report.json()["pairs"]
    names = [{p["a"]["user"], p["b"]["user"]} for p in pairs]
    assert names == [{"ann", "bob"}] and pairs[0]["score"] >= 0.85, pairs
    strict = client.get("/api/v1/problems/tiny-add/similarity?threshold=0.95", headers=auth(staff)).json()
    assert strict["pairs"] == []  # the threshold is honoured

    side = client.get(f"/api/v1/problems/tiny-add/similarity/{ann}/{bob}", headers=auth(staff)).json()
    assert side["a_slices"] and side["b_slices"] and "def add" in side["a_text"]
    page = client.get("/instructor/problems/tiny-add/similarity", headers=auth(staff)).text
    assert f'data-pair="{ann}-{bob}"' in page
    pair_page = client.get(f"/instructor/problems/tiny-add/similarity/{ann}/{bob}", headers=auth(staff)).text
    assert "<mark>" in pair_page and "ann" in pair_page and "bob" in pair_page
    assert client.get(f"/api/v1/problems/tiny-add/similarity/{ann}/{dan}", headers=auth(staff)).json()["score"] < 0.5

    # Never shown to students.
    assert client.get("/api/v1/problems/tiny-add/similarity", headers=auth(tokens["ann"])).status_code == 403
    assert client.get("/instructor/problems/tiny-add/similarity", headers=auth(tokens["ann"])).status_code in (403, 404)
    assert client.get("/api/v1/problems/nope/similarity", headers=auth(staff)).status_code == 404


def test_the_cli_lists_the_pairs(settings: Settings, dispatcher: RecordingDispatcher, client: TestClient,
                                 session: Session) -> None:
    publish_tiny(session)
    staff = add_user(session, "ines", Role.INSTRUCTOR)
    ann, bob = add_user(session, "ann", Role.STUDENT), add_user(session, "bob", Role.STUDENT)
    session.commit()
    _submit(client, ann, ORIGINAL)
    _submit(client, bob, RENAMED)
    with app_in_thread(create_app(settings, dispatcher)) as url:
        out = CliRunner().invoke(cli_app, ["similarity", "tiny-add", "--server", url, "--token", staff, "--json"])
        assert out.exit_code == 0, out.output
        assert [{p["a"]["user"], p["b"]["user"]} for p in json.loads(out.output)["pairs"]] == [{"ann", "bob"}]
        human = CliRunner().invoke(cli_app, ["similarity", "tiny-add", "--server", url, "--token", staff])
        assert "ann" in human.output and "bob" in human.output and "%" in human.output
        refused = CliRunner().invoke(cli_app, ["similarity", "tiny-add", "--server", url, "--token", ann])
        assert refused.exit_code != 0
