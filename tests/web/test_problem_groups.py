"""The problem list is grouped by course and assignment (the problems' tags, until courses)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from api.pages.student import group_by_tags


def _row(slug: str, tags: list[str] | None) -> dict[str, Any]:
    version = SimpleNamespace(summary={"tags": tags} if tags is not None else {})
    return {"problem": SimpleNamespace(slug=slug, current_version=version)}


def test_groups_by_course_then_assignment_untagged_last() -> None:
    rows = [_row("rope", ["nju-llm", "2024-a1"]), _row("mine", None), _row("ln", ["happy-llm", "chapter2"]),
            _row("norm", ["nju-llm", "2024-a1"]), _row("linear", ["nju-llm", "2025-a0"])]
    groups = group_by_tags(rows)
    shape = [(course, [(a, [r["problem"].slug for r in members]) for a, members in parts])
             for course, parts in groups]
    assert shape == [
        ("happy-llm", [("chapter2", ["ln"])]),
        ("nju-llm", [("2024-a1", ["rope", "norm"]), ("2025-a0", ["linear"])]),
        ("other", [("", ["mine"])]),
    ]
