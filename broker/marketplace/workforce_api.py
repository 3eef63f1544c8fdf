"""The requester's workforce API: private teams and their invites, which MTurk has no operation for.

Same endpoint, signing and error shape as the requester API (SigV4 with the requester's keys,
JSON 1.1, `__type` + `TurkErrorCode`), with its own target prefix:
`X-Amz-Target: CrowdBrokerWorkforce20240601.<Operation>`. Operations:

    CreateTeam        {Name, QualificationTypeId}           -> {Team}
    ListTeams         {}                                    -> {Teams}
    CreateTeamInvite  {TeamName, MaxUses?, ExpiresInSeconds?} -> {Invite} (with Code and Url, once)
    ListTeamInvites   {TeamName}                            -> {Invites}
    RevokeTeamInvite  {InviteId}                            -> {}

Members are managed with MTurk's own qualification operations on the team's qualification type
(ListWorkersWithQualificationType, AssociateQualificationWithWorker, DisassociateQualificationFromWorker).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from broker.marketplace.errors import ValidationFailed, WireError
from broker.marketplace.team_ops import DEFAULT_INVITE_LIFETIME, InviteView, TeamView

if TYPE_CHECKING:
    from broker.marketplace.state import Marketplace

TARGET_PREFIX = "CrowdBrokerWorkforce20240601"


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CreateTeamInput(_Input):
    Name: str = Field(min_length=1, max_length=63)
    QualificationTypeId: str = Field(min_length=1, max_length=64)


class ListTeamsInput(_Input):
    pass


class CreateTeamInviteInput(_Input):
    TeamName: str = Field(min_length=1, max_length=63)
    MaxUses: int = 1
    ExpiresInSeconds: int = int(DEFAULT_INVITE_LIFETIME.total_seconds())


class ListTeamInvitesInput(_Input):
    TeamName: str = Field(min_length=1, max_length=63)


class RevokeTeamInviteInput(_Input):
    InviteId: str = Field(min_length=1, max_length=64)


@dataclass(frozen=True)
class Operation:
    input_model: type[_Input]
    run: Callable[[Marketplace, Any], dict[str, Any]]


def team_shape(team: TeamView) -> dict[str, Any]:
    return {
        "Name": team.name,
        "QualificationTypeId": team.qualification_type_id,
        "CreationTime": team.created_at,
        "MemberCount": team.members,
        "OpenInviteCount": team.open_invites,
    }


def invite_shape(invite: InviteView, join_url: str | None = None) -> dict[str, Any]:
    return {
        "InviteId": invite.invite_id,
        "TeamName": invite.team,
        "CreationTime": invite.created_at,
        "ExpirationTime": invite.expires_at,
        "MaxUses": invite.max_uses,
        "Uses": invite.uses,
        "Revoked": invite.revoked,
        "Code": invite.code,
        "Url": join_url,
    }


def join_url(marketplace: Marketplace, code: str) -> str:
    """The link a worker opens: on the site's public URL (its TLS proxy), else where the server listens."""
    base = (marketplace.config.public_url or marketplace.public_url or "").rstrip("/")
    return f"{base}/join/{code}"


def _create_invite(marketplace: Marketplace, given: CreateTeamInviteInput) -> dict[str, Any]:
    invite = marketplace.create_team_invite(given.TeamName, given.MaxUses, timedelta(seconds=given.ExpiresInSeconds))
    assert invite.code is not None
    return {"Invite": invite_shape(invite, join_url(marketplace, invite.code))}


def _revoke_invite(marketplace: Marketplace, given: RevokeTeamInviteInput) -> dict[str, Any]:
    marketplace.revoke_team_invite(given.InviteId)
    return {}


OPERATIONS: dict[str, Operation] = {
    "CreateTeam": Operation(
        CreateTeamInput, lambda m, g: {"Team": team_shape(m.create_team(g.Name, g.QualificationTypeId))}
    ),
    "ListTeams": Operation(ListTeamsInput, lambda m, g: {"Teams": [team_shape(t) for t in m.list_teams()]}),
    "CreateTeamInvite": Operation(CreateTeamInviteInput, _create_invite),
    "ListTeamInvites": Operation(
        ListTeamInvitesInput, lambda m, g: {"Invites": [invite_shape(i) for i in m.list_team_invites(g.TeamName)]}
    ),
    "RevokeTeamInvite": Operation(RevokeTeamInviteInput, _revoke_invite),
}


def is_workforce_target(target: str | None) -> bool:
    return bool(target) and str(target).startswith(TARGET_PREFIX + ".")


def dispatch(marketplace: Marketplace, target: str, body: bytes) -> dict[str, Any]:
    """Parse, validate and run one workforce call; WireError for framing, ValidationFailed for members."""
    name = target[len(TARGET_PREFIX) + 1 :]
    operation = OPERATIONS.get(name)
    if operation is None:
        raise WireError("UnknownOperationException", f"Unknown operation {name!r}.")
    try:
        document = json.loads(body.decode("utf-8")) if body.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WireError("SerializationException", f"The request body is not valid JSON: {error}.") from error
    if not isinstance(document, dict):
        raise WireError("SerializationException", "The request body must be a JSON object.")
    try:
        given = operation.input_model.model_validate(document)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "request"
        raise ValidationFailed(f"1 validation error detected: Value at '{where}' {first['msg']}.") from error
    return operation.run(marketplace, given)
