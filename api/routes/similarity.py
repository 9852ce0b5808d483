"""Similarity report per problem (staff only): pairs of students' latest submissions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from api.deps import SessionDep, StaffUser
from core.services import similarity

router = APIRouter(tags=["similarity"])


@router.get("/problems/{slug}/similarity")
def report(slug: str, session: SessionDep, user: StaffUser,
           threshold: float = Query(similarity.DEFAULT_THRESHOLD, ge=0.0, le=1.0)) -> dict[str, Any]:
    """Pairs of students whose latest submissions share at least `threshold` of either one's
    code (winnowing fingerprints, the starter file left out), most similar first."""
    found = similarity.pairs(session, slug, threshold)
    return {"problem": slug, "threshold": threshold, "pairs": [p.summary() for p in found]}


@router.get("/problems/{slug}/similarity/{a_id}/{b_id}")
def side_by_side(slug: str, a_id: int, b_id: int, session: SessionDep, user: StaffUser) -> dict[str, Any]:
    """Two submissions' compared text with the ranges found in both."""
    p = similarity.pair(session, slug, a_id, b_id)
    return {**p.summary(), "a_text": p.a.text, "b_text": p.b.text,
            "a_slices": p.slices_a, "b_slices": p.slices_b}
