"""The leaderboard rule of core.services.board_policy on a real Postgres: two courses share a
problem; every course 'off' hides its board, any 'anonymous' gives pseudonyms (stable, the
viewer as "you"), the overall board counts only the boards the viewer may see and
pseudonymizes the same way, staff see real names; the API answers as the service does."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.main import create_app
from core.db.base import session_factory, utcnow
from core.db.course_models import Assignment, Course, LeaderboardPolicy
from core.db.models import Role, User
from core.services import leaderboard, roster
from core.services import users as user_service
from core.services.course_access import pseudonym
from core.services.courses import AssignmentFields, create_assignment, create_course
from core.services.errors import ForbiddenError

from .course_factories import graded, publish_bundled
from .helpers import RecordingDispatcher, auth, make_settings, publish_tiny

pytestmark = pytest.mark.postgres

MHM = "multi-head-matmul"
D = timedelta(days=1)


@dataclass
class World:
    """Courses ca (s001, s002) and cb (s001, s003) both holding tiny-add; ca also holds MHM."""

    session: Session
    client: TestClient
    users: dict[str, User]
    courses: dict[str, Course]
    mhm_max: float

    def policy(self, **by_assignment: str) -> None:
        """Set assignments' leaderboard policies, e.g. policy(a1="off", b1="anonymous")."""
        for slug, value in by_assignment.items():
            a = self.session.scalars(select(Assignment).where(Assignment.slug == slug)).one()
            a.leaderboard = LeaderboardPolicy(value)
        self.session.commit()

    def board(self, viewer: str, slug: str = "tiny-add") -> list[tuple[str, float]]:
        """(user, score) per row of a problem's board as `viewer` sees it."""
        entries = leaderboard.for_problem(self.session, slug, self.users[viewer])["entries"]
        return [(e["user"], e["score"]) for e in entries]

    def overall(self, viewer: str | None) -> list[tuple[str, float]]:
        """(user, total) per row of the overall board as `viewer` sees it."""
        entries = leaderboard.overall(self.session, self.users[viewer] if viewer else None)["entries"]
        return [(e["user"], e["score"]) for e in entries]

    def alias(self, course: str, user: str) -> str:
        """The pseudonym a course gives a user."""
        return pseudonym(self.courses[course], self.users[user].id)


@pytest.fixture
def world(clean_postgres: str, tmp_path: Path) -> Iterator[World]:
    """Two courses sharing tiny-add, graded rows for three students, the app on the same database."""
    settings = make_settings(tmp_path / "data", database_url=clean_postgres)
    settings.data_dir.mkdir(parents=True)
    session = session_factory(clean_postgres)()
    publish_tiny(session)
    maxes = publish_bundled(session, (MHM,))
    ines = user_service.create_user(session, "ines", Role.INSTRUCTOR, "ines-password")
    courses = {}
    for slug, members in (("ca", ("s001", "s002")), ("cb", ("s001", "s003"))):
        course = create_course(session, ines, slug, slug.upper())
        lines = ["username,display_name,email,section", *(f"{m},{m},{m}@uni.example," for m in members)]
        roster.import_roster(session, course, ines, "\n".join(lines).encode())
        courses[slug] = course
    now = utcnow()
    for in_course, slug, problem in (("ca", "a1", "tiny-add"), ("ca", "a2", MHM), ("cb", "b1", "tiny-add")):
        create_assignment(session, courses[in_course], ines, AssignmentFields(
            slug=slug, title=slug, release_at=now - D, due_at=now + D, problems=[(problem, 10)]))
    session.commit()
    for name, score in (("s001", 3.0), ("s002", 2.0), ("s003", 1.0)):
        graded(session, name, "tiny-add", score, now)
    graded(session, "s002", MHM, maxes[MHM], now)
    users = {u.name: u for u in session.scalars(select(User))}
    with TestClient(create_app(settings, RecordingDispatcher()), raise_server_exceptions=False) as client:
        yield World(session, client, users, courses, maxes[MHM])
    session.rollback()
    session.close()


def test_every_course_off_hides_the_board_and_the_overall_board_leaves_it_out(world: World) -> None:
    world.policy(a1="off", b1="off")
    for student in ("s001", "s002", "s003"):
        with pytest.raises(ForbiddenError, match="off"):
            world.board(student)
    # Only MHM counts for s001: s002's tiny-add points and s003 (tiny-add only) are left out.
    assert world.overall("s001") == [("s002", world.mhm_max)]
    # Staff see the board and every problem, with real names.
    assert world.board("ines") == [("s001", 3.0), ("s002", 2.0), ("s003", 1.0)]
    assert {u for u, _ in world.overall("ines")} == {"s001", "s002", "s003"}
    # The API applies the same rule: 403 on the board, the same overall rows.
    s001 = user_service.issue_token(world.session, world.users["s001"])
    world.session.commit()
    r = world.client.get("/api/v1/leaderboard/tiny-add", headers=auth(s001))
    assert r.status_code == 403 and "off" in r.json()["detail"]
    api = world.client.get("/api/v1/leaderboard", headers=auth(s001)).json()["entries"]
    assert [(e["user"], e["score"]) for e in api] == world.overall("s001")
    # Signed out, only problems in no course count (both of ours are in one).
    assert world.client.get("/api/v1/leaderboard").json()["entries"] == []


def test_one_course_anonymous_gives_stable_pseudonyms_on_both_boards(world: World) -> None:
    world.policy(a1="off", b1="anonymous")
    # s001 is in both courses: off in ca, anonymous in cb -> pseudonyms keyed by cb.
    expected = [("you", 3.0), (world.alias("cb", "s002"), 2.0), (world.alias("cb", "s003"), 1.0)]
    assert world.board("s001") == expected
    assert world.board("s001") == expected  # stable from one read to the next
    assert world.alias("cb", "s002").startswith("anonymous-") and world.alias("ca", "s002") != world.alias("cb", "s002")
    rows = leaderboard.for_problem(world.session, "tiny-add", world.users["s001"])["entries"]
    assert [e["you"] for e in rows] == [True, False, False]
    assert rows[0]["submission_id"] is not None and rows[1]["submission_id"] is None
    # s002 is only in ca, where the board is off; s003 only in cb, where it is anonymous.
    with pytest.raises(ForbiddenError):
        world.board("s002")
    assert world.board("s003")[2] == ("you", 1.0)
    # The overall board uses the same pseudonyms; no real student name appears on it.
    overall = dict(world.overall("s001"))
    assert overall["you"] == 3.0 and overall[world.alias("cb", "s002")] == 2.0 + world.mhm_max
    assert not {"s001", "s002", "s003"} & set(overall)
    # s002 sees the overall board with names: tiny-add is hidden for them, MHM is "on".
    assert [u for u, _ in world.overall("s002")] == ["s002"]
    assert world.board("ines")[0] == ("s001", 3.0)


def test_on_in_one_course_and_off_in_the_other_shows_real_names(world: World) -> None:
    world.policy(a1="on", b1="off")
    assert world.board("s001") == [("s001", 3.0), ("s002", 2.0), ("s003", 1.0)]
    with pytest.raises(ForbiddenError):
        world.board("s003")  # only in cb, where it is off
    assert world.overall("s003") == []  # nothing s003 may see has rows
    assert world.overall("s001")[0][0] == "s002"  # 2 + MHM beats 3
    # A course's TA sees real names even where the board is anonymous.
    world.policy(a1="anonymous")
    ta = user_service.create_user(world.session, "tara", Role.STUDENT, "tara-password")
    roster.import_roster(world.session, world.courses["ca"], world.session.get(User, world.users["ines"].id),  # type: ignore[arg-type]
                         b"username,role\ntara,ta\n")
    world.session.commit()
    world.users["tara"] = ta
    assert world.board("tara")[0] == ("s001", 3.0)
    assert world.board("s002")[1] == ("you", 2.0)
