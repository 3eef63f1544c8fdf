"""`broker team ...`: private work teams, as Ground Truth's private workforce.

A team is a qualification type of the requester's, named `crowd-broker team: NAME`, that its
members hold; a job with `workforce: {team: NAME}` requires it (DiscoverPreviewAndAccept), so
only members see its HITs. That part is MTurk's API on any marketplace, MTurk included (where
members are added by WorkerId). On the embedded marketplace the team is also registered with
its workforce API, which issues invites: a link or code by which a worker signs up (or, signed
in, joins) and is granted the qualification.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from broker.actions.qualifications import find_team_qualification, team_qualification_name
from broker.spec import TEAM_NAME_PATTERN
from broker.workforce import WorkforceClient, WorkforceError

LIST_PAGE = 100


class TeamError(Exception):
    """A team command that cannot be done; the message is one line for the requester."""


@dataclass(frozen=True)
class TeamSummary:
    name: str
    qualification_type_id: str
    members: int
    open_invites: int | None  # None where the marketplace has no invites (MTurk)


@dataclass(frozen=True)
class Invite:
    team: str
    code: str
    url: str
    expires: str
    max_uses: int


def check_name(name: str) -> str:
    if not TEAM_NAME_PATTERN.match(name):
        raise TeamError(
            f"team name {name!r}: 1-63 letters, digits and hyphens, starting and ending with a letter or digit"
        )
    return name


def create_team(client: Any, target: Any, name: str) -> TeamSummary:
    """The team's qualification type (found again if it exists), registered for invites where they exist."""
    check_name(name)
    type_id = find_team_qualification(client, name)
    if type_id is None:
        type_id = client.create_qualification_type(
            Name=team_qualification_name(name),
            Description=f"Members of the private work team {name}: they see and work its jobs.",
            QualificationTypeStatus="Active",
        )["QualificationType"]["QualificationTypeId"]
    open_invites = None
    if target.is_local:
        team = WorkforceClient(target).call("CreateTeam", Name=name, QualificationTypeId=type_id)["Team"]
        open_invites = int(team["OpenInviteCount"])
    return TeamSummary(name, type_id, len(team_members(client, name)), open_invites)


def invite(target: Any, name: str, uses: int = 1, lifetime_seconds: int = 7 * 86400) -> Invite:
    """A new invite to the team: the code, once, and the link to the worker site's join page."""
    check_name(name)
    try:
        made = WorkforceClient(target).call(
            "CreateTeamInvite", TeamName=name, MaxUses=uses, ExpiresInSeconds=lifetime_seconds
        )["Invite"]
    except WorkforceError as error:
        if error.code == "CrowdBroker.TeamDoesNotExist":
            raise TeamError(f"no team named {name} (create it with: broker team create {name})") from error
        raise
    expires = datetime.fromtimestamp(float(made["ExpirationTime"]), UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Invite(name, made["Code"], made["Url"], expires, int(made["MaxUses"]))


def list_teams(client: Any, target: Any) -> list[TeamSummary]:
    """Every team of the requester: from its qualification types, with open invites where they exist."""
    prefix = team_qualification_name("")
    found: dict[str, str] = {}
    for page in _pages(
        client.list_qualification_types,
        Query=prefix,
        MustBeRequestable=False,
        MustBeOwnedByCaller=True,
    ):
        for qualification in page.get("QualificationTypes", []):
            if qualification["Name"].startswith(prefix):
                found[qualification["Name"].removeprefix(prefix)] = qualification["QualificationTypeId"]
    invites: dict[str, int] = {}
    if target.is_local:
        for team in WorkforceClient(target).call("ListTeams").get("Teams", []):
            invites[team["Name"]] = int(team["OpenInviteCount"])
    return [
        TeamSummary(name, type_id, len(_holders(client, type_id)), invites.get(name) if target.is_local else None)
        for name, type_id in sorted(found.items())
    ]


def team_members(client: Any, name: str) -> list[str]:
    """WorkerIds of the team's members."""
    return _holders(client, _team_type(client, name))


def add_member(client: Any, name: str, worker_id: str) -> None:
    """Make a worker a member by WorkerId (how a team is filled on MTurk, where there are no invites)."""
    client.associate_qualification_with_worker(
        QualificationTypeId=_team_type(client, name), WorkerId=worker_id, IntegerValue=1, SendNotification=False
    )


def remove_member(client: Any, name: str, worker_id: str) -> None:
    client.disassociate_qualification_from_worker(
        QualificationTypeId=_team_type(client, name), WorkerId=worker_id, Reason=f"removed from team {name}"
    )


def _team_type(client: Any, name: str) -> str:
    type_id = find_team_qualification(client, check_name(name))
    if type_id is None:
        raise TeamError(f"no team named {name} (create it with: broker team create {name})")
    return type_id


def _holders(client: Any, type_id: str) -> list[str]:
    return [
        qualification["WorkerId"]
        for page in _pages(client.list_workers_with_qualification_type, QualificationTypeId=type_id, Status="Granted")
        for qualification in page.get("Qualifications", [])
    ]


def _pages(operation: Any, **params: Any) -> Any:
    """Every page of an MTurk List call (until a page without results or without NextToken)."""
    token = None
    while True:
        page = operation(**params, MaxResults=LIST_PAGE, **({"NextToken": token} if token else {}))
        yield page
        token = page.get("NextToken")
        if not token or not page.get("NumResults"):
            return
