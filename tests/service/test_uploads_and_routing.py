"""Upload normalization edge cases, queue routing by device, and health with the database down."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.main import create_app
from core.errors import SubmissionError
from core.services import problems as problem_service
from core.services.uploads import UploadLimits, normalize_upload

from .helpers import RecordingDispatcher, add_user, auth, copy_fixture, make_settings

LIMITS = UploadLimits(max_bytes=1000, max_files=3)


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_single_file_keeps_its_name_and_folders_are_kept_in_archives() -> None:
    assert normalize_upload([("my_sol.py", b"x")], LIMITS) == {"my_sol.py": b"x"}
    files = normalize_upload([("s.zip", _zip({"pkg/a.py": b"1", "__MACOSX/._a.py": b"junk"}))], LIMITS)
    assert files == {"pkg/a.py": b"1"}


@pytest.mark.parametrize(
    "uploads,message",
    [
        ([("a.py", b"1"), ("a.py", b"2")], "duplicate"),
        ([("s.zip", _zip({"a/" * 10 + "x.py": b"1"}))], "nested too deeply"),
        ([("s.zip", _zip({"big.py": b"0" * 5000}))], "too large"),  # compresses well: a small bomb
        ([("s.zip", _zip({f"f{i}.py": b"" for i in range(5)}))], "too many files"),
        ([("bad name.py", b"1")], "bad file name"),
        ([("s.zip", b"PK\x03\x04 not really")], "not a readable zip"),
        ([("s.zip", _zip({"a.py": b"1"})), ("b.py", b"2")], "on its own"),
        ([("s.zip", _zip({}))], "no files"),
        ([], "no files"),
    ],
)
def test_bad_uploads_are_refused_with_a_reason(uploads: list[tuple[str, bytes]], message: str) -> None:
    with pytest.raises(SubmissionError, match=message):
        normalize_upload(uploads, LIMITS)


def test_problems_with_cuda_cases_go_to_the_gpu_queue(
    client: TestClient, session: Session, dispatcher: RecordingDispatcher, tmp_path: Path
) -> None:
    package = copy_fixture(tmp_path)
    toml = package / "problem.toml"
    toml.write_text(
        toml.read_text()
        .replace('name = "hidden"', 'name = "hidden"\ndevice = "cuda"', 1)
        .replace('device = "cpu"\nparams = { n = 16 }', "params = { n = 16 }")
    )
    problem_service.stage_directory(session, package)
    problem_service.publish(session, "tiny-add")
    session.commit()
    token = add_user(session, "ada")
    r = client.post(
        "/api/v1/submissions", data={"problem": "tiny-add"}, files=[("files", ("s.py", b"x"))], headers=auth(token)
    )
    assert r.status_code == 201, r.text
    assert [j.queue for j in dispatcher.jobs] == ["gpu"]
    assert client.get("/api/v1/problems/tiny-add").json()["needs_gpu"] is True


def test_health_is_503_when_the_database_is_down(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    with TestClient(create_app(settings, RecordingDispatcher()), raise_server_exceptions=False) as client:
        r = client.get("/api/v1/health")
    assert r.status_code == 503 and r.json()["database"] == "down" and "database" in r.json()["detail"]
