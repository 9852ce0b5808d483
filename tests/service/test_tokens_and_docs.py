"""A user's own API tokens (API and page) and the offline API docs."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from .helpers import add_user, auth


def test_own_tokens_listed_created_and_revoked(client: TestClient, session: Session) -> None:
    first = add_user(session, "ann")
    other = add_user(session, "ben")
    r = client.post("/api/v1/auth/tokens", json={"label": "laptop"}, headers=auth(first))
    assert r.status_code == 201, r.text
    second = r.json()["token"]
    assert second.startswith("tj_") and second != first
    listed = client.get("/api/v1/auth/tokens", headers=auth(second)).json()
    assert listed[0]["label"] == "laptop" and len(listed) == 2
    assert all("token" not in t and "token_hash" not in t for t in listed)
    laptop_id = listed[0]["id"]
    # Someone else cannot revoke it.
    assert client.delete(f"/api/v1/auth/tokens/{laptop_id}", headers=auth(other)).status_code == 404
    assert client.delete(f"/api/v1/auth/tokens/{laptop_id}", headers=auth(first)).status_code == 200
    assert client.get("/api/v1/auth/me", headers=auth(second)).status_code == 401
    assert client.get("/api/v1/auth/me", headers=auth(first)).json()["name"] == "ann"


def test_token_page_creates_shows_once_and_revokes(client: TestClient, session: Session) -> None:
    add_user(session, "cat", password="correct-horse")
    assert client.post("/login", data={"name": "cat", "password": "correct-horse"},
                       follow_redirects=False).status_code == 303
    page = client.get("/tokens")
    assert page.status_code == 200 and "this browser" in page.text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]
    made = client.post("/tokens", data={"csrf": csrf, "label": "cli"})
    token = re.search(r'id="new-token">(tj_[^<]+)<', made.text).group(1)  # type: ignore[union-attr]
    assert client.get("/api/v1/auth/me", headers=auth(token)).json()["name"] == "cat"
    assert token not in client.get("/tokens").text  # shown once only
    ids = [t["id"] for t in client.get("/api/v1/auth/tokens", headers=auth(token)).json()]
    assert client.post(f"/tokens/{ids[0]}/revoke", data={"csrf": "wrong"}).status_code == 403
    r = client.post(f"/tokens/{ids[0]}/revoke", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/api/v1/auth/me", headers=auth(token)).status_code == 401


def test_docs_use_only_local_assets_and_they_are_served(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert refs and all(ref.startswith("/") and not ref.startswith("//") for ref in refs), refs
    assert "http://" not in page.text and "https://" not in page.text
    for ref in refs:
        r = client.get(ref)
        assert r.status_code == 200 and len(r.content) > 100, ref
    bundle = next(ref for ref in refs if ref.endswith(".js"))
    assert b"SwaggerUIBundle" in client.get(bundle).content
    assert "'/api/v1/openapi.json'" in page.text
    schema = client.get("/openapi.json")  # the old address follows to the real one
    assert schema.status_code == 200 and schema.json()["info"]["title"] == "TensorJudge"
    assert "/api/v1/auth/tokens" in schema.json()["paths"]
