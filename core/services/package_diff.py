"""What changed between two versions of a problem package: every file, a unified diff per
changed text file, added and removed files listed (what the instructor's diff page shows)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from core.db.models import ProblemVersion
from core.services.packages import package_files

MAX_DIFF_LINES = 4000  # per file: a regenerated data file should not make a page of megabytes


@dataclass(frozen=True)
class FileDiff:
    """One file of the package: `status` is added | removed | changed | unchanged, and
    `lines` its unified diff (text files that changed; a binary file says so in `note`)."""

    path: str
    status: str
    lines: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def added_lines(self) -> int:
        """Lines the diff adds (the +++ header not counted)."""
        return sum(1 for line in self.lines if line.startswith("+") and not line.startswith("+++"))

    @property
    def removed_lines(self) -> int:
        """Lines the diff removes (the --- header not counted)."""
        return sum(1 for line in self.lines if line.startswith("-") and not line.startswith("---"))


@dataclass(frozen=True)
class PackageDiff:
    """Every file of two versions, in path order."""

    files: list[FileDiff]

    def with_status(self, status: str) -> list[FileDiff]:
        """The files with one status."""
        return [f for f in self.files if f.status == status]

    @property
    def changed(self) -> bool:
        """Whether anything differs."""
        return any(f.status != "unchanged" for f in self.files)


def _text(data: bytes) -> list[str] | None:
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return None


def diff_files(old: dict[str, bytes], new: dict[str, bytes], old_label: str = "a", new_label: str = "b") -> PackageDiff:
    """Compare two packages given as {path: bytes}; `old_label`/`new_label` prefix the paths
    in the diff headers (e.g. v1/statement.md, v2/statement.md)."""
    out: list[FileDiff] = []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if before == after:
            out.append(FileDiff(path, "unchanged"))
            continue
        status = "added" if before is None else "removed" if after is None else "changed"
        a, b = _text(before or b""), _text(after or b"")
        if a is None or b is None:
            out.append(FileDiff(path, status, note="binary file: contents not shown"))
            continue
        lines = list(difflib.unified_diff(a, b, f"{old_label}/{path}" if before is not None else "/dev/null",
                                          f"{new_label}/{path}" if after is not None else "/dev/null",
                                          lineterm="", n=3))
        note = ""
        if len(lines) > MAX_DIFF_LINES:
            note = f"diff cut at {MAX_DIFF_LINES} of {len(lines)} lines"
            lines = lines[:MAX_DIFF_LINES]
        out.append(FileDiff(path, status, lines, note))
    return PackageDiff(out)


def diff_versions(old: ProblemVersion, new: ProblemVersion, old_number: int, new_number: int) -> PackageDiff:
    """Every file of two stored versions of one problem compared (labels v<number>)."""
    return diff_files(package_files(old), package_files(new), f"v{old_number}", f"v{new_number}")
