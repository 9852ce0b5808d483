"""Nothing a client sends produces a 500: garbage to every route, as anonymous and as admin."""

from __future__ import annotations

import itertools
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.db.models import Role

from .helpers import add_user, auth, publish_tiny

PATH_VALUES = ["tiny-add", "0", "99999999999999999999999", "x%00y", "..%2F..", "1"]
JSON_BODIES: list[object] = [
    None,
    {},
    [],
    "str",
    12,
    {"name": None},
    {"name": "x" * 10_000},
    {"role": "god", "name": "a", "password": "b"},
    {"version_id": "x"},
    {"force": {"a": 1}},
    {"is_active": "maybe"},
]
RAW_BODIES = [b"", b"\xff\xfe\x00garbage", b"{not json", b"--boundary\r\n\r\n"]


def _routes(client: TestClient) -> list[tuple[str, str]]:
    spec = client.get("/api/v1/openapi.json").json()
    out = []
    for path, item in spec["paths"].items():
        for method in item:
            out.append((method.upper(), path))
    return out


def _fill(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


@pytest.mark.slow
def test_no_route_answers_500_to_garbage(client: TestClient, session: Session) -> None:
    publish_tiny(session)
    admin = add_user(session, "root", Role.ADMIN)
    routes = _routes(client)
    assert len(routes) >= 15
    failures = []
    for (method, path), value, headers in itertools.product(
        routes, PATH_VALUES, [{}, auth(admin), {"Authorization": "Basic Zm9v"}]
    ):
        url = _fill(path, value)
        if path.endswith("/events") and value == "1":
            continue  # a real, unfinished submission would stream; covered elsewhere
        attempts = []
        if method in ("POST", "PATCH", "PUT"):
            attempts += [dict(json=b) for b in JSON_BODIES]
            attempts += [
                dict(content=b, headers={**headers, "Content-Type": ct})
                for b in RAW_BODIES
                for ct in ("application/json", "multipart/form-data; boundary=boundary")
            ]
            attempts += [
                dict(data={"problem": value}, files=[("files", ("..", b"\x00"))]),
                dict(files={"package": ("p.zip", b"PK\x03\x04garbage")}),
                dict(data={"problem": "tiny-add"}, files=[("files", ("a.tar", b"\x1f\x8bnot gzip"))]),
            ]
        else:
            attempts += [dict(params={"limit": "-5", "offset": "x", "problem": "\x00", "user": "y" * 500})]
            attempts += [dict()]
        if headers != auth(admin):
            attempts = attempts[:1]  # without valid credentials every attempt ends the same way
        for kwargs in attempts:
            kwargs.setdefault("headers", headers)
            r = client.request(method, url, **kwargs)  # type: ignore[arg-type]
            if r.status_code >= 500 and not (path.endswith("/health") and r.status_code == 503):
                failures.append((method, url, kwargs.get("json"), r.status_code, r.text[:200]))
            elif r.status_code >= 400:
                body = r.json()
                if not isinstance(body.get("detail"), str):
                    failures.append((method, url, "detail not a string", r.status_code, r.text[:200]))
    assert not failures, failures[:10]
