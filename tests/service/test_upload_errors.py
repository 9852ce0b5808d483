"""Package upload errors, over the API and on the instructor pages: one clear line each, no
server paths, slug checks, unchanged re-uploads, inline form errors, confirmations."""

from __future__ import annotations

import html
import io
import tempfile
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cli.serve import demo_table
from core.db.models import Role
from core.services.bootstrap import DemoAccount
from core.services.uploads import strip_server_paths

from .helpers import TINY, add_user, auth

TOML = (TINY / "problem.toml").read_bytes()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _package(folder: str = "tiny-add", **replace: bytes) -> bytes:
    files = {p.relative_to(TINY).as_posix(): p.read_bytes() for p in TINY.rglob("*") if p.is_file()}
    files.update(replace)
    return _zip({f"{folder}/{k}" if folder else k: v for k, v in files.items()})


def _two_mistakes() -> bytes:
    """problem.toml with a bad points value in one case and an unknown dtype in another."""
    hidden = b'dtype = "float32"\ndevice = "cpu"\nparams = { n = 16 }'
    assert hidden in TOML
    return TOML.replace(b"points = 1", b'points = "x"').replace(hidden, hidden.replace(b"float32", b"float99"))


@pytest.fixture
def staff(session: Session) -> dict[str, str]:
    return auth(add_user(session, "ina", Role.INSTRUCTOR))


def _upload(client: TestClient, headers: dict[str, str], name: str, data: bytes, **form: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/admin/problems", files={"package": (name, data)}, data=form, headers=headers)


@pytest.mark.parametrize("name,data,needle", [
    ("notes.txt", b"just some notes, not an archive", "notes.txt is not a .zip or .tar.gz archive"),
    ("package.tar.gz", b"\x1f\x8b garbage", "not a readable tar archive"),
    ("package.zip", b"PK\x03\x04 garbage", "not a readable zip archive"),
])
def test_a_non_archive_gets_one_sentence(client: TestClient, staff: dict[str, str],
                                         name: str, data: bytes, needle: str) -> None:
    r = _upload(client, staff, name, data)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert needle in detail and "\n" not in detail and "method gz" not in detail and "ReadError" not in detail


def test_several_errors_one_per_line_and_no_server_paths(client: TestClient, staff: dict[str, str]) -> None:
    r = _upload(client, staff, "p.zip", _package(**{"problem.toml": _two_mistakes()}))
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert tempfile.gettempdir() not in detail and "tj-package" not in detail
    lines = detail.splitlines()
    assert len(lines) >= 2 and all(line.strip() for line in lines), detail


def test_folder_and_slug_must_match(client: TestClient, staff: dict[str, str]) -> None:
    r = _upload(client, staff, "p.zip", _package(**{"problem.toml": TOML.replace(b'"tiny-add"', b'"other"', 1)}))
    assert r.status_code == 422
    assert "folder is named 'tiny-add'" in r.json()["detail"] and "slug = 'other'" in r.json()["detail"]
    assert client.get("/api/v1/admin/problems/other/versions", headers=staff).status_code == 404
    # A new version for a given problem must keep its slug.
    first = _upload(client, staff, "p.zip", _package())
    assert first.status_code == 202, first.text
    other = _upload(client, staff, "p.zip", _package(folder="", **{"problem.toml": TOML.replace(
        b'"tiny-add"', b'"other"', 1)}), slug="tiny-add")
    assert other.status_code == 422 and "this is problem 'tiny-add'" in other.json()["detail"]


def test_identical_reupload_stores_nothing(client: TestClient, staff: dict[str, str]) -> None:
    first = _upload(client, staff, "p.zip", _package())
    again = _upload(client, staff, "p.zip", _package())
    assert first.json()["unchanged"] is False and again.json()["unchanged"] is True
    assert again.json()["version"]["id"] == first.json()["version"]["id"]
    assert "unchanged" in again.json()["message"] and "nothing stored" in again.json()["message"]
    versions = client.get("/api/v1/admin/problems/tiny-add/versions", headers=staff).json()
    assert len(versions) == 1


def test_upload_errors_shown_inline_on_the_form_it_came_from(client: TestClient, staff: dict[str, str]) -> None:
    r = client.post("/instructor/problems", files={"package": ("notes.txt", b"hello")}, headers=staff)
    assert r.status_code == 422
    assert 'id="upload-errors"' in r.text and "notes.txt is not a .zip or .tar.gz archive" in r.text
    assert 'action="/instructor/problems"' in r.text  # the upload form itself, to try again
    assert _upload(client, staff, "p.zip", _package()).status_code == 202
    # From a problem's page: the errors come back on that page, one list item per problem.
    r = client.post("/instructor/problems", data={"slug": "tiny-add"},
                    files={"package": ("p.zip", _package(**{"problem.toml": _two_mistakes()}))}, headers=staff)
    assert r.status_code == 422 and "Upload a new version" in r.text
    errors_html = r.text.split('id="upload-errors"', 1)[1].split("</div>", 1)[0]
    assert errors_html.count("<li>") == 2, errors_html
    again = client.post("/instructor/problems", data={"slug": "tiny-add"},
                        files={"package": ("p.zip", _package())}, headers=staff, follow_redirects=False)
    assert again.status_code == 303 and "unchanged" in again.headers["location"]


def test_edit_errors_inline_and_slug_kept(client: TestClient, staff: dict[str, str]) -> None:
    version_id = _upload(client, staff, "p.zip", _package()).json()["version"]["id"]
    r = client.post("/instructor/problems/tiny-add/edit", headers=staff, data={
        "version_id": str(version_id), "problem.toml": TOML.decode().replace('"tiny-add"', '"renamed"', 1)})
    assert r.status_code == 422 and 'id="edit-errors"' in r.text
    assert "keep slug = 'tiny-add'" in html.unescape(r.text)
    assert "renamed" in r.text  # what was typed is kept in the form


def test_destructive_actions_ask_first(client: TestClient, staff: dict[str, str]) -> None:
    _upload(client, staff, "p.zip", _package())
    text = client.get("/instructor/problems/tiny-add", headers=staff).text
    rejudge = text.split('action="/instructor/problems/tiny-add/rejudge"', 1)[1].split(">", 1)[0]
    assert "confirm(" in rejudge and "Rejudge every submission" in rejudge


def test_server_paths_are_stripped() -> None:
    message = (f'File "{tempfile.gettempdir()}/tj-package-x1/named/p/driver.py", line 3; '
               "in /srv/tj/data/cache/x.bin of /srv/tj/data")
    out = strip_server_paths(message, Path("/srv/tj/data"))
    assert out == 'File "driver.py", line 3; in x.bin of (server folder)'


def test_demo_table_header_matches_its_columns() -> None:
    table = demo_table([DemoAccount("admin", "admin", "pw-123456", "tj_abc"),
                        DemoAccount("student", "student", "pw-654321", "tj_def")]).splitlines()
    assert table[0].split() == ["role", "name", "password", "API", "token"]
    assert [len(line.split()) for line in table[1:]] == [4, 4]
    starts = [table[0].index(h) for h in ("name", "password", "API")]
    assert all(line[s - 1] == " " and line[s] != " " for line in table[1:] for s in starts)


def test_queue_failure_message_names_no_server_folder() -> None:
    from core.db.models import ProblemVersion
    from core.services.packages import record_dispatch_failure
    from core.settings import REPO_ROOT

    version = ProblemVersion(id=7)
    message = record_dispatch_failure(version, PermissionError(f"cannot write {REPO_ROOT}/var/broker/q/x.msg"))
    assert str(REPO_ROOT) not in message and "x.msg" in message
    assert version.validation is not None and version.validation["errors"] == [message]
