"""The similarity report pages for instructors: the pairs, and one pair side by side."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep
from api.pages.common import Staff, page
from core.services import similarity

router = APIRouter()


@router.get("/instructor/problems/{slug}/similarity", response_class=HTMLResponse)
def report(request: Request, slug: str, session: SessionDep, user: Staff,
           threshold: Annotated[float, Query(ge=0.0, le=1.0)] = similarity.DEFAULT_THRESHOLD) -> HTMLResponse:
    """Pairs above the threshold, most similar first, each linking to its side-by-side view."""
    found = similarity.pairs(session, slug, threshold)
    return page(request, "instructor/similarity.html", slug=slug, threshold=threshold, pairs=found)


@router.get("/instructor/problems/{slug}/similarity/{a_id}/{b_id}", response_class=HTMLResponse)
def side_by_side(request: Request, slug: str, a_id: int, b_id: int, session: SessionDep,
                 user: Staff) -> HTMLResponse:
    """The two submissions next to each other, the code found in both marked."""
    p = similarity.pair(session, slug, a_id, b_id)
    return page(request, "instructor/similarity_pair.html", slug=slug, pair=p,
                a_runs=similarity.marked(p.a.text, p.slices_a), b_runs=similarity.marked(p.b.text, p.slices_b))
