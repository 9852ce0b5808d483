"""Turning what a client uploads (files, a zip or a tar) into a checked {path: bytes} map."""

from __future__ import annotations

import io
import os
import re
import stat
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.errors import SubmissionError

_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_IGNORED_PREFIXES = ("__MACOSX/",)
_IGNORED_SEGMENTS = {"__pycache__", "node_modules"}
_MAX_ARCHIVE_ENTRIES = 20000  # raw entries read at most (a repository zip may carry .git)
_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


@dataclass(frozen=True)
class UploadLimits:
    """Caps on an upload: total bytes after decompression, file count, path depth."""

    max_bytes: int
    max_files: int
    max_depth: int = 8


def clean_path(name: str) -> str | None:
    """A safe relative POSIX path, None for entries to skip; SubmissionError for bad ones."""
    raw = name.replace("\\", "/")
    if raw.startswith(_IGNORED_PREFIXES):
        return None
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        raise SubmissionError(f"absolute paths are not allowed: {name!r}")
    parts = [p for p in PurePosixPath(raw).parts if p not in ("", ".")]
    if not parts:
        raise SubmissionError(f"empty file name: {name!r}")
    # Hidden files and folders (.git, .venv, .idea, .DS_Store) and caches are never part of a
    # submission: a student's repository is accepted as it stands, without them.
    if any(p in _IGNORED_SEGMENTS or p.startswith(".") for p in parts) or parts[-1].endswith(".pyc"):
        return None
    for part in parts:
        if part == "..":
            raise SubmissionError(f"path escapes the submission: {name!r}")
        if not _SEGMENT.match(part) or len(part) > 100:
            raise SubmissionError(f"bad file name {name!r}: use letters, digits, '_', '-' and '.' only")
    return "/".join(parts)


def is_archive(filename: str, data: bytes) -> bool:
    """Whether an upload looks like a zip or tar archive (by name or by magic bytes)."""
    lower = filename.lower()
    if lower.endswith(_ARCHIVE_SUFFIXES):
        return True
    return data[:4] == b"PK\x03\x04" or data[:2] == b"\x1f\x8b" or data[257:262] == b"ustar"


def _add(out: dict[str, bytes], path: str | None, data: bytes, limits: UploadLimits) -> None:
    if path is None:
        return
    if path.count("/") >= limits.max_depth:
        raise SubmissionError(f"{path}: nested too deeply")
    if path in out:
        raise SubmissionError(f"duplicate file: {path}")
    # A file and a folder of the same name cannot coexist.
    if any(p.startswith(path + "/") or path.startswith(p + "/") for p in out):
        raise SubmissionError(f"{path}: clashes with another file of the same name")
    out[path] = data
    if len(out) > limits.max_files:
        raise SubmissionError(f"too many files: at most {limits.max_files}")
    if sum(len(v) for v in out.values()) > limits.max_bytes:
        raise SubmissionError(f"upload too large: at most {limits.max_bytes} bytes in all")


def _read_zip(data: bytes, limits: UploadLimits) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > _MAX_ARCHIVE_ENTRIES:
                raise SubmissionError(f"too many entries in the archive: at most {_MAX_ARCHIVE_ENTRIES}")
            for info in infos:
                if info.is_dir() or clean_path(info.filename) is None:
                    continue
                ftype = stat.S_IFMT(info.external_attr >> 16)
                if ftype and ftype != stat.S_IFREG:
                    raise SubmissionError(f"{info.filename}: only regular files are allowed")
                if info.file_size > limits.max_bytes:
                    raise SubmissionError(f"{info.filename}: too large")
                path = clean_path(info.filename)
                if path is None:
                    continue
                # Read at most one byte past the cap: declared sizes can lie (zip bombs).
                with zf.open(info) as fh:
                    content = fh.read(limits.max_bytes + 1)
                if len(content) > limits.max_bytes:
                    raise SubmissionError(f"{info.filename}: too large")
                _add(out, path, content, limits)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise SubmissionError(f"not a readable zip archive: {reason}") from None
    return out


def _read_tar(data: bytes, limits: UploadLimits) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    count = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
            for member in tf:
                count += 1
                if count > _MAX_ARCHIVE_ENTRIES:
                    raise SubmissionError(f"too many entries in the archive: at most {_MAX_ARCHIVE_ENTRIES}")
                if member.isdir() or clean_path(member.name) is None:
                    continue
                if not member.isfile():
                    raise SubmissionError(f"{member.name}: links, devices and fifos are not allowed")
                if member.size > limits.max_bytes:
                    raise SubmissionError(f"{member.name}: too large")
                path = clean_path(member.name)
                if path is None:
                    continue
                fh = tf.extractfile(member)
                content = fh.read(limits.max_bytes + 1) if fh else b""
                _add(out, path, content, limits)
    except (tarfile.TarError, EOFError, OSError, ValueError):
        # tarfile's message chains one failure per compression it tried: say it once.
        raise SubmissionError("not a readable tar archive (damaged, or not a .tar/.tar.gz at all)") from None
    return out


def read_archive(filename: str, data: bytes, limits: UploadLimits) -> dict[str, bytes]:
    """The regular files of a zip or tar archive, checked against `limits`."""
    if len(data) > limits.max_bytes:
        raise SubmissionError(f"upload too large: at most {limits.max_bytes} bytes")
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith(".zip"):
        files = _read_zip(data, limits)
    else:
        files = _read_tar(data, limits)
    if not files:
        raise SubmissionError("the archive contains no files")
    return files


def normalize_upload(uploads: list[tuple[str, bytes]], limits: UploadLimits) -> dict[str, bytes]:
    """One file, several files, or one archive -> {relative path: content}.

    A single plain file keeps its (cleaned) name; the grader installs it as the problem's
    module. Raises SubmissionError with a message fit for the student.
    """
    if not uploads:
        raise SubmissionError("no files uploaded")
    if len(uploads) == 1 and is_archive(*uploads[0]):
        return read_archive(uploads[0][0], uploads[0][1], limits)
    out: dict[str, bytes] = {}
    for name, data in uploads:
        if is_archive(name, data):
            raise SubmissionError(f"{name}: upload an archive on its own, not with other files")
        path = clean_path(Path(name).name if "/" not in name else name)
        if path is None:
            raise SubmissionError(f"{name}: not an allowed file")
        _add(out, path, data, limits)
    return out


def collect_local(paths: list[Path], cwd: Path | None = None) -> list[tuple[str, bytes]]:
    """Files named on a command line as (relative name, bytes) uploads.

    A directory (a repository root or its `src/`) is read whole, hidden files and caches left
    out; several files keep their paths relative to the current folder (or to their common
    folder when they lie outside it), so `src/__init__.py` and `src/modeling/__init__.py` stay
    apart; a single file or a single archive is passed on as it is.
    """
    cwd = (cwd or Path.cwd()).resolve()
    out: list[tuple[str, bytes]] = []
    for given in paths:
        if given.is_dir():
            base = given.resolve()
            # One folder is read as the tree it holds; several keep their own names apart.
            anchor_dir = base if len(paths) == 1 else base.parent
            for f in sorted(base.rglob("*")):
                rel = f.relative_to(anchor_dir).as_posix()
                if f.is_file() and not f.is_symlink() and clean_path(rel) is not None:
                    out.append((rel, f.read_bytes()))
            continue
        if not given.is_file():
            raise SubmissionError(f"{given}: no such file or folder")
    files = [p.resolve() for p in paths if not p.is_dir()]
    if len(files) == 1 and not out:
        return [(files[0].name, files[0].read_bytes())]
    if files:
        inside = all(f.is_relative_to(cwd) for f in files)
        anchor = cwd if inside else Path(os.path.commonpath([str(f.parent) for f in files]))
        out.extend((f.relative_to(anchor).as_posix(), f.read_bytes()) for f in files)
    return out


def zip_files(files: list[tuple[str, bytes]]) -> bytes:
    """(name, bytes) pairs as an in-memory zip archive."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            zf.writestr(name, data)
    return buf.getvalue()


def strip_server_paths(message: str, *roots: Path | str) -> str:
    """`message` without the server's folders: a path under one of `roots` or the temp dir
    keeps only its file name (`driver.py`, never `/tmp/tj-package-x/named/p/driver.py`)."""
    candidates = {str(r).rstrip("/") for r in (*roots, tempfile.gettempdir()) if str(r).strip("/")}
    for root in sorted(candidates, key=len, reverse=True):
        message = re.sub(re.escape(root) + r"/(?:[^\s'\"/:,()]+/)*", "", message)
        message = re.sub(re.escape(root) + r"(?![\w.\-/])", "(server folder)", message)
    return message


def write_tree(files: dict[str, bytes], root: Path) -> None:
    """Write checked files under `root` (paths come from normalize_upload or read_archive)."""
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
