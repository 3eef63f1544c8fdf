"""Private work teams: the marketplace's side of Ground Truth's private workforce.

A team is a name bound to one of the requester's qualification types: its members are the
workers who hold that qualification, so a HIT type that requires it (with `ActionsGuarded:
DiscoverPreviewAndAccept`) is seen, previewed and accepted by members only, by MTurk's own
rules. What MTurk has no operation for lives here: registering a team, and invites, by which
a worker joins (signing up, or signed in) and is granted the team's qualification.

Invite codes are 12 random Crockford base-32 characters (60 bits), shown as XXXX-XXXX-XXXX and
read back forgivingly (case, hyphens, spaces, O for 0, I and L for 1); only their SHA-256 digest
is stored. The requester's side of this is the workforce API (workforce_api.py).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from broker.marketplace.core import MarketplaceCore
from broker.marketplace.errors import RequestError, ValidationFailed
from broker.marketplace.records import TeamInviteRecord, TeamRecord

# SageMaker's WorkteamName pattern: Ground Truth's team names carry over unchanged.
TEAM_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U
CODE_LENGTH = 12
DEFAULT_INVITE_LIFETIME = timedelta(days=7)
MAX_INVITE_LIFETIME = timedelta(days=365)
MAX_INVITE_USES = 10_000


class TeamError(RequestError):
    """A team operation the marketplace refuses (unknown or duplicate team, unknown invite)."""


class InviteRefused(RequestError):
    """An invite code that cannot be used: unknown, expired, used up or revoked."""

    def __init__(self, message: str) -> None:
        super().__init__("CrowdBroker.InviteNotValid", message)


@dataclass(frozen=True)
class TeamView:
    name: str
    qualification_type_id: str
    created_at: datetime
    members: int
    open_invites: int


@dataclass(frozen=True)
class InviteView:
    invite_id: str
    team: str
    created_at: datetime
    expires_at: datetime
    max_uses: int
    uses: int
    revoked: bool
    code: str | None = None  # only when the invite is created


def normalise_code(text: str) -> str:
    """What a worker typed or a link carried, as the code's canonical 12 characters ('' if it cannot be one)."""
    cleaned = re.sub(r"[\s-]", "", text).upper().translate(str.maketrans("OIL", "011"))
    return cleaned if len(cleaned) == CODE_LENGTH and all(c in CODE_ALPHABET for c in cleaned) else ""


def display_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def check_team_name(name: str) -> str:
    if not TEAM_NAME_PATTERN.match(name):
        raise ValidationFailed(
            f"Team name {name!r}: 1-63 letters, digits and hyphens, starting and ending with a letter or digit."
        )
    return name


class TeamOperations(MarketplaceCore):
    """Teams, invites and membership (a team's qualification, granted on joining)."""

    @property
    def teams(self) -> dict[str, TeamRecord]:
        return self._tables["team"]  # type: ignore[return-value]

    @property
    def team_invites(self) -> dict[str, TeamInviteRecord]:
        return self._tables["team_invite"]  # type: ignore[return-value]

    # ------------------------------------------------------------------ requester side
    def create_team(self, name: str, qualification_type_id: str) -> TeamView:
        """Register a team over an existing qualification type; the same call again returns it."""
        with self._transaction() as now:
            check_team_name(name)
            qualification_type = self._get_qualification_type(qualification_type_id)
            existing = self.teams.get(name)
            if existing is not None:
                if existing.qualification_type_id != qualification_type.id:
                    raise TeamError(
                        "CrowdBroker.TeamAlreadyExists",
                        f"Team {name} already exists with qualification type {existing.qualification_type_id}.",
                    )
                return self._team_view(existing, now)
            if any(t.qualification_type_id == qualification_type.id for t in self.teams.values()):
                raise TeamError(
                    "CrowdBroker.TeamAlreadyExists",
                    f"Qualification type {qualification_type.id} already belongs to another team.",
                )
            team = TeamRecord(id=name, qualification_type_id=qualification_type.id, created_at=now)
            self._save(team)
            return self._team_view(team, now)

    def list_teams(self) -> list[TeamView]:
        with self._transaction() as now:
            return [self._team_view(team, now) for team in sorted(self.teams.values(), key=lambda t: t.id)]

    def create_team_invite(
        self, team_name: str, max_uses: int = 1, lifetime: timedelta = DEFAULT_INVITE_LIFETIME
    ) -> InviteView:
        """A new invite; its code is returned once, in this view, and never stored."""
        if not 1 <= max_uses <= MAX_INVITE_USES:
            raise ValidationFailed(f"MaxUses must be 1 to {MAX_INVITE_USES}, got {max_uses}.")
        if not timedelta(minutes=1) <= lifetime <= MAX_INVITE_LIFETIME:
            raise ValidationFailed("ExpiresInSeconds must be from 60 seconds to 365 days.")
        with self._transaction() as now:
            team = self._get_team(team_name)
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            invite = TeamInviteRecord(
                id=self.ids.random_id(20),
                team=team.id,
                code_digest=code_digest(code),
                created_at=now,
                expires_at=now + lifetime,
                max_uses=max_uses,
            )
            self._save(invite)
            return self._invite_view(invite, code)

    def list_team_invites(self, team_name: str) -> list[InviteView]:
        with self._transaction():
            team = self._get_team(team_name)
            invites = [i for i in self.team_invites.values() if i.team == team.id]
            return [self._invite_view(i) for i in sorted(invites, key=lambda i: (i.created_at, i.id))]

    def revoke_team_invite(self, invite_id: str) -> None:
        with self._transaction():
            invite = self.team_invites.get(invite_id)
            if invite is None:
                raise TeamError("CrowdBroker.InviteDoesNotExist", f"Invite {invite_id} does not exist.")
            invite.revoked = True
            self._save(invite)

    # ------------------------------------------------------------------ worker side
    def team_for_invite(self, code_text: str, worker_id: str | None = None) -> TeamView:
        """The team a usable invite code leads to; InviteRefused says why a code cannot be used.
        A member's own invite keeps leading to their team after it is used up."""
        with self._transaction() as now:
            return self._team_view(self.teams[self._usable_invite(code_text, now, worker_id).team], now)

    def join_team(self, code_text: str, worker_id: str) -> TeamView:
        """Grant the team's qualification to the worker; a member joining again uses up nothing."""
        with self._transaction() as now:
            worker = self._get_worker(worker_id)
            invite = self._usable_invite(code_text, now, worker.id)
            team = self.teams[invite.team]
            if not self._is_member(team, worker.id):
                self._get_qualification_type(team.qualification_type_id)
                self._grant(team.qualification_type_id, worker.id, 1, now)
                invite.uses += 1
                self._save(invite)
            return self._team_view(team, now)

    def worker_teams(self, worker_id: str) -> list[str]:
        """The names of the teams the worker belongs to."""
        with self._transaction():
            return sorted(team.id for team in self.teams.values() if self._is_member(team, worker_id))

    # ------------------------------------------------------------------ helpers
    def _get_team(self, name: str) -> TeamRecord:
        team = self.teams.get(name)
        if team is None:
            raise TeamError("CrowdBroker.TeamDoesNotExist", f"Team {name} does not exist.")
        return team

    def _is_member(self, team: TeamRecord, worker_id: str) -> bool:
        held = self.qualifications.get(f"{team.qualification_type_id}:{worker_id}")
        return held is not None and held.status == "Granted"

    def _usable_invite(self, code_text: str, now: datetime, worker_id: str | None = None) -> TeamInviteRecord:
        code = normalise_code(code_text)
        digest = code_digest(code) if code else None
        invite = next((i for i in self.team_invites.values() if i.code_digest == digest), None)
        if invite is None or invite.team not in self.teams:
            raise InviteRefused("This invite code is not valid. Check it, or ask the requester for a new invite.")
        if worker_id is not None and self._is_member(self.teams[invite.team], worker_id):
            return invite  # joining again changes nothing
        if invite.revoked:
            raise InviteRefused("This invite was withdrawn by the requester. Ask them for a new one.")
        if invite.expires_at <= now:
            raise InviteRefused("This invite has expired. Ask the requester for a new one.")
        if invite.uses >= invite.max_uses:
            raise InviteRefused("This invite has been used already. Ask the requester for a new one.")
        return invite

    def _team_view(self, team: TeamRecord, now: datetime) -> TeamView:
        members = sum(
            1 for q in self.qualifications.values() if q.type_id == team.qualification_type_id and q.status == "Granted"
        )
        open_invites = sum(
            1
            for i in self.team_invites.values()
            if i.team == team.id and not i.revoked and i.expires_at > now and i.uses < i.max_uses
        )
        return TeamView(team.id, team.qualification_type_id, team.created_at, members, open_invites)

    @staticmethod
    def _invite_view(invite: TeamInviteRecord, code: str | None = None) -> InviteView:
        return InviteView(
            invite_id=invite.id,
            team=invite.team,
            created_at=invite.created_at,
            expires_at=invite.expires_at,
            max_uses=invite.max_uses,
            uses=invite.uses,
            revoked=invite.revoked,
            code=display_code(code) if code else None,
        )
