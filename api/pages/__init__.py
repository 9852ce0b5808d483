"""The server-rendered web app: pages for students, instructors and admins.

`setup(app)` is called by the app factory (api.main) when this package is present.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def setup(app: FastAPI) -> None:
    """Mount the static files, the page routers and the HTML error pages."""
    from api.pages import account, admin, authoring, boards, course_admin, errors, instructor, student, workspace
    from api.pages import courses as course_pages
    from api.pages import similarity as similarity_pages

    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for module in (student, workspace, boards, instructor, authoring, admin, account, course_pages, course_admin,
                   similarity_pages):
        app.include_router(module.router, include_in_schema=False)
    errors.install(app)
