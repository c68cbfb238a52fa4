"""A whole round from the domain API: a small province, 40 residents, 12 proposals, 5 judges,
on-site and paper votes.  Shared by the SQLite and the PostgreSQL scenario tests."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from participation.domain.regions import Province
from participation.domain.round import RoundRules
from participation.service import ParticipationService

KST = dt.timezone(dt.timedelta(hours=9))
SMALL = Province.from_dict(
    {
        "code": "smallprov",
        "regions": [
            {"code": "east", "admin_code": "99110"},
            {"code": "west", "admin_code": "99120"},
            {"code": "north", "admin_code": "99810", "kind": "gun"},
        ],
    }
)
ROUND = "small2017"
ADMIN, CLERK = 1, 2
RESIDENTS = list(range(100, 140))
AUTHORS = RESIDENTS[:12]
JUDGES = [900, 901, 902, 903, 904]
HALL = RESIDENTS[12:24]
ONLINE = RESIDENTS[24:40]


@dataclass
class Outcome:
    proposals: list[str]
    published: dict[str, object]


def small_rules(deadlines: object) -> RoundRules:
    return RoundRules.from_dict(
        {
            "title": "small province 2017",
            "deadlines": deadlines,
            "regions": list(SMALL.codes),
            "budget_cap": 20_000_000,
            "max_request": 5_000_000,
            "select_count": 6,
            "weights": {"judges": 50, "onsite": 30, "online": 20},
            "endorsement_threshold": 2,
            "review_group_size": 6,
            "online_likes_cap": 3,
        }
    )


def run_round(svc: ParticipationService, clock: object) -> Outcome:
    """Play a round through the service; return the proposal ids and the published results."""
    set_time = clock.set  # type: ignore[attr-defined]
    svc.grant_first_official(ADMIN)
    svc.join_as_official(CLERK, svc.invite_official(ADMIN, role="clerk"))
    dl = {
        "submission_ends": "2017-02-10T18:00:00+09:00",
        "endorsement_ends": "2017-02-17T18:00:00+09:00",
        "review_ends": "2017-02-23T18:00:00+09:00",
    }
    svc.create_round(ADMIN, small_rules(dl), round_id=ROUND)
    svc.open_round(ADMIN, ROUND)
    for i, uid in enumerate(RESIDENTS):
        svc.register(uid, region=SMALL.codes[i % 3], consent_version="2017-01", regions=SMALL.codes)
    ids = []
    for i, uid in enumerate(AUTHORS):
        card = svc.submit_proposal(
            uid,
            ROUND,
            title=f"proposal {i}",
            body="body " * (i + 1),
            category=("community", "culture", "environment")[i % 3],
            region=SMALL.codes[i % 3],
            budget=1_000_000 * (1 + i % 5),
            request_id=f"submit-{uid}",
        )
        ids.append(card.proposal_id)
    svc.withdraw_proposal(AUTHORS[11], ids[11])
    set_time(dt.datetime(2017, 2, 12, 10, tzinfo=KST))
    svc.advance_round(ADMIN, ROUND)  # -> endorsement
    for n, uid in enumerate(RESIDENTS):
        for k in (n % 11, (n * 5 + 3) % 11):
            if AUTHORS[k] != uid and not svc.proposal(ids[k], viewer=uid).endorsed_by_viewer:
                svc.endorse(uid, ids[k], request_id=f"e-{uid}-{k}")
    svc.withdraw_endorsement(RESIDENTS[39], ids[(39 * 5 + 3) % 11])
    set_time(dt.datetime(2017, 2, 20, 10, tzinfo=KST))
    svc.advance_round(ADMIN, ROUND)  # -> review
    groups = svc.form_review_groups(ADMIN, ROUND)
    for j, uid in enumerate(JUDGES):
        group = (1, 1, 2, 2, None)[j]
        svc.join_as_judge(uid, svc.invite_judge(ADMIN, ROUND, group=group))
    for j, uid in enumerate(JUDGES):
        for t, task in enumerate(svc.judge_tasks(uid, ROUND)):
            if j == 4 and t == 0:
                svc.recuse(uid, task.card.proposal_id)
                continue
            base = 1 + (j + t) % 5
            scores = {c: 1 + (base + k) % 5 for k, c in enumerate(svc.round(ROUND).rules.criteria)}
            svc.score(uid, task.card.proposal_id, scores)
    session = svc.open_onsite_session(CLERK, ROUND)
    set_time(dt.datetime(2017, 2, 23, 10, tzinfo=KST))
    code = svc.onsite_code(session)
    for h, uid in enumerate(HALL):
        svc.redeem_code(uid, code)
        for k, pid in enumerate(p for g in groups for p in g):
            if k % 3 == h % 3:
                svc.onsite_score(uid, pid, 1 + (h + k) % 5)
    sheet = hashlib.sha256(b"photo of the paper tally sheet").hexdigest()
    first = svc.enter_paper_tally(
        CLERK, session, groups[0][0], ballots=10, points=31, sheet_sha256=sheet
    )
    fixed = svc.enter_paper_tally(
        CLERK, session, groups[0][0], ballots=10, points=33, sheet_sha256=sheet, corrects=first
    )
    svc.confirm_paper_tally(ADMIN, fixed)
    for o, uid in enumerate(ONLINE):
        group = 1 + o % len(groups)
        svc.choose_group(uid, ROUND, group)
        for pid in groups[group - 1][o % 2 :: 2][:3]:
            svc.like(uid, pid)
    svc.unlike(ONLINE[0], groups[0][0])
    set_time(dt.datetime(2017, 2, 24, 10, tzinfo=KST))
    svc.advance_round(ADMIN, ROUND)  # -> results
    published = svc.publish_results(ADMIN, ROUND)
    return Outcome(proposals=ids, published=published)
