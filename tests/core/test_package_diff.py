"""The package diff (issue 16): every file compared, unified diffs, added/removed/binary."""

from __future__ import annotations

from core.services.package_diff import MAX_DIFF_LINES, diff_files


def test_changed_added_removed_and_unchanged_files() -> None:
    old = {"statement.md": b"# Add\n\nAdd two numbers.\n", "driver.py": b"x = 1\n",
           "solutions/wrong_answer/off.py": b"def f(a, b):\n    return a + b + 1\n"}
    new = {"statement.md": b"# Add\n\nAdd two integers.\n", "driver.py": b"x = 1\n",
           "solutions/accepted/plain.py": b"def f(a, b):\n    return a + b\n"}
    diff = diff_files(old, new, "v1", "v2")
    status = {f.path: f.status for f in diff.files}
    assert status == {"driver.py": "unchanged", "solutions/accepted/plain.py": "added",
                      "solutions/wrong_answer/off.py": "removed", "statement.md": "changed"}
    statement = next(f for f in diff.files if f.path == "statement.md")
    assert statement.lines[:2] == ["--- v1/statement.md", "+++ v2/statement.md"]
    assert "-Add two numbers." in statement.lines and "+Add two integers." in statement.lines
    assert (statement.added_lines, statement.removed_lines) == (1, 1)
    added = diff.with_status("added")[0]
    assert added.lines[0] == "--- /dev/null" and added.added_lines == 2
    assert diff.changed


def test_identical_packages_and_binary_and_long_files() -> None:
    same = {"a.txt": b"x\n"}
    assert not diff_files(same, dict(same)).changed
    binary = diff_files({"w.bin": b"\xff\x00"}, {"w.bin": b"\xfe\x00"}).files[0]
    assert binary.status == "changed" and binary.lines == [] and "binary" in binary.note
    long_new = "".join(f"{i}\n" for i in range(MAX_DIFF_LINES + 10)).encode()
    cut = diff_files({}, {"big.txt": long_new}).files[0]
    assert len(cut.lines) == MAX_DIFF_LINES and "cut" in cut.note
