"""Similarity of students' latest submissions to one problem, for instructors (never students).

Each student's latest counted submission (trial runs left out) is one document: its Python
files, concatenated in path order. Documents are fingerprinted with copydetect's winnowing
(the algorithm MOSS uses), with the problem's starter file as boilerplate, so code every
student was given counts for nobody. Pairs are found through an inverted index of fingerprint
hashes (only pairs sharing a hash are compared at all), and a pair is listed when the share
of either student's code found in the other's reaches the threshold.
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from core.db.models import Problem, ProblemVersion, Role, Submission, SubmissionFile, User
from core.services.errors import NotFoundError
from core.services.kinds import counted

# Matches shorter than NOISE_TOKENS characters (after tokenising) are ignored; matches of at
# least GUARANTEE_TOKENS are always found (copydetect's defaults: 25 and 30).
NOISE_TOKENS = 25
GUARANTEE_TOKENS = 30
DEFAULT_THRESHOLD = 0.5
MAX_DOCUMENT_CHARS = 200_000  # per student: beyond this the rest is not compared


@dataclass
class Document:
    """One student's latest submission as compared text."""

    user: str
    submission_id: int
    text: str
    spans: list[tuple[str, int, int]] = field(default_factory=list)  # (path, start, end) in text


@dataclass
class Pair:
    """Two students' documents and how much of each is found in the other."""

    a: Document
    b: Document
    similarity_a: float  # share of a's (filtered) code that also appears in b
    similarity_b: float
    tokens: int  # overlapping tokens
    slices_a: list[tuple[int, int]] = field(default_factory=list)  # copied ranges in a.text
    slices_b: list[tuple[int, int]] = field(default_factory=list)

    @property
    def score(self) -> float:
        """The larger of the two shares (a small file copied into a large one still shows)."""
        return max(self.similarity_a, self.similarity_b)

    def summary(self) -> dict[str, Any]:
        """The pair as the API lists it."""
        return {
            "a": {"user": self.a.user, "submission_id": self.a.submission_id},
            "b": {"user": self.b.user, "submission_id": self.b.submission_id},
            "similarity_a": round(self.similarity_a, 4),
            "similarity_b": round(self.similarity_b, 4),
            "score": round(self.score, 4),
            "overlapping_tokens": self.tokens,
        }


def _problem(session: Session, slug: str) -> Problem:
    problem = session.scalar(select(Problem).where(Problem.slug == slug))
    if problem is None:
        raise NotFoundError(f"no problem {slug!r}")
    return problem


def _document(submission: Submission, user: str) -> Document:
    parts: list[str] = []
    spans: list[tuple[str, int, int]] = []
    offset = 0
    for f in submission.files:
        if not f.path.endswith(".py"):
            continue
        text = f.content.decode("utf-8", "replace")
        if offset + len(text) > MAX_DOCUMENT_CHARS:
            text = text[: max(0, MAX_DOCUMENT_CHARS - offset)]
        header = f"# --- {f.path}\n"
        parts.append(header + text + "\n")
        spans.append((f.path, offset + len(header), offset + len(header) + len(text)))
        offset += len(header) + len(text) + 1
        if offset >= MAX_DOCUMENT_CHARS:
            break
    return Document(user=user, submission_id=submission.id, text="".join(parts), spans=spans)


def latest_documents(session: Session, problem: Problem) -> list[Document]:
    """Each student's latest counted submission to the problem, as a document."""
    latest = (
        select(func.max(Submission.id))
        .join(User, User.id == Submission.user_id)
        .where(Submission.problem_id == problem.id, counted(), User.role == Role.STUDENT)
        .group_by(Submission.user_id)
    )
    subs = session.scalars(
        select(Submission).where(Submission.id.in_(latest)).options(
            selectinload(Submission.files).undefer(SubmissionFile.content)).order_by(Submission.id)
    ).all()
    rows = session.execute(select(User.id, User.name).where(User.id.in_({s.user_id for s in subs})))
    names = {uid: name for uid, name in rows}
    return [d for d in (_document(s, names[s.user_id]) for s in subs) if d.text.strip()]


def _starter(session: Session, problem: Problem) -> str:
    version = session.get(ProblemVersion, problem.current_version_id) if problem.current_version_id else None
    return version.starter if version is not None else ""


def _fingerprint(text: str, name: str, boilerplate: Any) -> Any:
    from copydetect import CodeFingerprint

    win = GUARANTEE_TOKENS - NOISE_TOKENS + 1
    return CodeFingerprint(name, NOISE_TOKENS, win, boilerplate=boilerplate, language="python",
                           fp=io.StringIO(text))


def _boilerplate(starter: str) -> Any:
    """The starter's fingerprint hashes, as copydetect takes boilerplate (a sorted array)."""
    import numpy as np

    if not starter.strip():
        return []
    return np.unique(np.array(sorted(_fingerprint(starter, "starter.py", None).hashes)))


def _slices(raw: Any) -> list[tuple[int, int]]:
    if raw is None or len(raw) == 0 or len(raw[0]) == 0:
        return []
    return [(int(s), int(e)) for s, e in zip(raw[0], raw[1], strict=True)]


def pairs(session: Session, slug: str, threshold: float = DEFAULT_THRESHOLD) -> list[Pair]:
    """Pairs of students whose latest submissions reach the threshold, most similar first."""
    from copydetect import compare_files

    problem = _problem(session, slug)
    docs = latest_documents(session, problem)
    starter = _starter(session, problem)
    boilerplate = _boilerplate(starter)
    prints = [_fingerprint(d.text, f"{d.user}.py", boilerplate) for d in docs]
    index: dict[int, list[int]] = defaultdict(list)
    for i, fp in enumerate(prints):
        for h in set(int(x) for x in fp.hashes):
            index[h].append(i)
    shared: Counter[tuple[int, int]] = Counter()
    for owners in index.values():
        if len(owners) <= 50:  # a hash half the class shares is an idiom, not a copy
            shared.update(combinations(owners, 2))
    found: list[Pair] = []
    for (i, j), _count in shared.items():
        tokens, (sim_a, sim_b), (sl_a, sl_b) = compare_files(prints[i], prints[j])
        if max(sim_a, sim_b) >= threshold:
            found.append(Pair(docs[i], docs[j], float(sim_a), float(sim_b), int(tokens),
                              _slices(sl_a), _slices(sl_b)))
    found.sort(key=lambda p: (-p.score, p.a.submission_id, p.b.submission_id))
    return found


def pair(session: Session, slug: str, a_id: int, b_id: int) -> Pair:
    """Two submissions to the problem side by side, with their copied ranges."""
    from copydetect import compare_files

    problem = _problem(session, slug)
    docs: list[Document] = []
    for sid in (a_id, b_id):
        sub = session.get(Submission, sid)
        if sub is None or sub.problem_id != problem.id:
            raise NotFoundError(f"no submission {sid} to {slug!r}")
        user = session.get(User, sub.user_id)
        docs.append(_document(sub, user.name if user else "?"))
    starter = _starter(session, problem)
    boilerplate = _boilerplate(starter)
    fa, fb = (_fingerprint(d.text, f"{d.user}.py", boilerplate) for d in docs)
    tokens, (sim_a, sim_b), (sl_a, sl_b) = compare_files(fa, fb)
    return Pair(docs[0], docs[1], float(sim_a), float(sim_b), int(tokens), _slices(sl_a), _slices(sl_b))


def marked(text: str, slices: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    """The text cut into (piece, copied) runs, for a side-by-side view."""
    out: list[tuple[str, bool]] = []
    pos = 0
    for start, end in sorted(slices):
        start, end = max(start, pos), min(end, len(text))
        if start >= end:
            continue
        if start > pos:
            out.append((text[pos:start], False))
        out.append((text[start:end], True))
        pos = end
    if pos < len(text):
        out.append((text[pos:], False))
    return out
