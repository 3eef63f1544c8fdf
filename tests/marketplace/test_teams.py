"""Private work teams in the marketplace's state: teams over qualification types, invites, joining,
and the team's requirement hiding its HITs from everyone else (no HTTP here; the wire is below)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from broker import mturk as broker_mturk
from broker.marketplace.config import MarketplaceConfig
from broker.marketplace.errors import NotQualified, ValidationFailed
from broker.marketplace.server import start_in_thread
from broker.marketplace.state import Marketplace
from broker.marketplace.team_ops import InviteRefused, TeamError, normalise_code
from broker.marketplace.workforce_api import join_url
from broker.workforce import WorkforceClient, WorkforceError
from tests.marketplace.conftest import make_hit, make_hit_type


def team_type(market: Marketplace, name: str = "crowd-broker team: annotators") -> str:
    params = {"Name": name, "Description": "team members", "QualificationTypeStatus": "Active"}
    return market.create_qualification_type(params)["QualificationType"]["QualificationTypeId"]


def team_hit(market: Marketplace, type_id: str) -> tuple[str, str]:
    requirement = {"QualificationTypeId": type_id, "Comparator": "Exists", "ActionsGuarded": "DiscoverPreviewAndAccept"}
    hit_type_id = make_hit_type(market, QualificationRequirements=[requirement])
    return hit_type_id, make_hit(market, hit_type_id)


def test_a_team_is_registered_once_over_its_qualification_type(market):
    type_id = team_type(market)
    team = market.create_team("annotators", type_id)
    assert (team.name, team.qualification_type_id, team.members, team.open_invites) == ("annotators", type_id, 0, 0)
    assert market.create_team("annotators", type_id).created_at == team.created_at  # the same call again
    with pytest.raises(TeamError, match="already exists"):
        market.create_team("annotators", team_type(market, "other"))
    with pytest.raises(TeamError, match="belongs to another team"):
        market.create_team("reviewers", type_id)
    with pytest.raises(ValidationFailed, match="Team name 'bad name'"):
        market.create_team("bad name", type_id)
    assert [t.name for t in market.list_teams()] == ["annotators"]


def test_joining_by_invite_grants_the_team_qualification_and_uses_the_invite(market):
    type_id = team_type(market)
    market.create_team("annotators", type_id)
    invite = market.create_team_invite("annotators", max_uses=2)
    assert invite.code is not None and len(invite.code) == 14 and invite.code.count("-") == 2
    first, second, third = (market.register_worker() for _ in range(3))

    assert market.team_for_invite(invite.code.lower().replace("-", " ")).name == "annotators"  # typed loosely
    market.join_team(invite.code, first)
    market.join_team(invite.code, first)  # a member joining again uses nothing up
    assert market.qualifications[f"{type_id}:{first}"].status == "Granted"
    market.join_team(invite.code, second)
    with pytest.raises(InviteRefused, match="used already"):
        market.join_team(invite.code, third)
    assert f"{type_id}:{third}" not in market.qualifications
    [listed] = market.list_team_invites("annotators")
    assert (listed.uses, listed.max_uses, listed.code) == (2, 2, None)  # the code is shown once only
    assert market.worker_teams(first) == ["annotators"] and market.worker_teams(third) == []
    assert market.list_teams()[0].members == 2


def test_expired_revoked_and_unknown_codes_are_refused(market, clock):
    market.create_team("annotators", team_type(market))
    worker = market.register_worker()
    short = market.create_team_invite("annotators", lifetime=timedelta(hours=1))
    withdrawn = market.create_team_invite("annotators")
    market.revoke_team_invite(withdrawn.invite_id)
    clock.advance(3601)
    with pytest.raises(InviteRefused, match="expired"):
        market.join_team(short.code, worker)
    with pytest.raises(InviteRefused, match="withdrawn"):
        market.join_team(withdrawn.code, worker)
    for code in ("0000-0000-0000", "not a code", ""):
        with pytest.raises(InviteRefused, match="not valid"):
            market.team_for_invite(code)
    assert market.worker_teams(worker) == []
    with pytest.raises(ValidationFailed, match="MaxUses"):
        market.create_team_invite("annotators", max_uses=0)
    with pytest.raises(TeamError, match="Team nobody does not exist"):
        market.create_team_invite("nobody")


def test_codes_are_read_forgivingly_and_stored_only_as_digests(market, config):
    market.create_team("annotators", team_type(market))
    code = market.create_team_invite("annotators").code
    assert normalise_code(code.replace("0", "o").replace("1", "l")) == code.replace("-", "")
    assert normalise_code("ABCD-EFGH-JKU") == ""  # U is not in the alphabet, and too short
    market.close()
    stored = Path(config.db_path).read_bytes()
    assert code.replace("-", "").encode() not in stored and code.encode() not in stored


def test_only_members_discover_preview_and_accept_a_team_hit(market):
    type_id = team_type(market)
    market.create_team("annotators", type_id)
    hit_type_id, hit_id = team_hit(market, type_id)
    member, outsider = market.register_worker(), market.register_worker()
    market.join_team(market.create_team_invite("annotators").code, member)

    assert [g.hit_type_id for g in market.list_hit_groups(member)] == [hit_type_id]
    assert market.list_hit_groups(outsider) == [] and market.list_hit_groups(None) == []
    for attempt in (lambda: market.preview_hit(hit_id, outsider), lambda: market.accept_hit(hit_id, outsider)):
        with pytest.raises(NotQualified, match="crowd-broker team: annotators"):
            attempt()
    assert market.accept_hit(hit_id, member)


def test_teams_and_invites_survive_a_restart(config, clock):
    first = Marketplace(config, clock=clock)
    first.create_team("annotators", team_type(first))
    code = first.create_team_invite("annotators", max_uses=3).code
    first.close()
    again = Marketplace(config, clock=clock)
    worker = again.register_worker()
    assert again.join_team(code, worker).members == 1
    again.close()


# ------------------------------------------------------------------------------- the wire (HTTP)


@pytest.fixture()
def workforce(server) -> WorkforceClient:
    target = broker_mturk.MarketplaceTarget(
        "local",
        server.endpoint_url,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
        worker_site_url=server.worker_site_url,
    )
    return WorkforceClient(target)


def test_the_workforce_api_is_signed_validated_and_answers_like_mturk(server, mturk, workforce):
    type_id = mturk.create_qualification_type(
        Name="crowd-broker team: annotators", Description="d", QualificationTypeStatus="Active"
    )["QualificationType"]["QualificationTypeId"]
    team = workforce.call("CreateTeam", Name="annotators", QualificationTypeId=type_id)["Team"]
    assert (team["Name"], team["QualificationTypeId"], team["MemberCount"]) == ("annotators", type_id, 0)
    invite = workforce.call("CreateTeamInvite", TeamName="annotators", MaxUses=5, ExpiresInSeconds=3600)["Invite"]
    assert invite["Url"] == f"{server.worker_site_url}/join/{invite['Code']}"
    assert (invite["MaxUses"], invite["Uses"], invite["Revoked"]) == (5, 0, False)
    assert [i["InviteId"] for i in workforce.call("ListTeamInvites", TeamName="annotators")["Invites"]] == [
        invite["InviteId"]
    ]
    assert "Code" not in workforce.call("ListTeamInvites", TeamName="annotators")["Invites"][0]
    workforce.call("RevokeTeamInvite", InviteId=invite["InviteId"])
    assert workforce.call("ListTeams")["Teams"][0]["OpenInviteCount"] == 0

    with pytest.raises(WorkforceError, match="MaxUses") as refused:
        workforce.call("CreateTeamInvite", TeamName="annotators", MaxUses="many")
    assert refused.value.code == "AWS.ParameterOutOfRange"
    with pytest.raises(WorkforceError, match=r"Team nobody does not exist. \(\d{13}\)") as missing:
        workforce.call("CreateTeamInvite", TeamName="nobody")
    assert missing.value.code == "CrowdBroker.TeamDoesNotExist"
    with pytest.raises(WorkforceError, match="no workforce API"):
        workforce.call("DeleteEverything")

    forged = WorkforceClient(
        broker_mturk.MarketplaceTarget(
            "local",
            server.endpoint_url,
            access_key_id=server.access_key_id,
            secret_access_key="not-the-secret",
            worker_site_url=server.worker_site_url,
        )
    )
    with pytest.raises(WorkforceError) as unsigned:
        forged.call("ListTeams")
    assert unsigned.value.code == "InvalidSignatureException"


def test_invite_links_use_the_public_url_behind_a_proxy(tmp_path):
    config = MarketplaceConfig(db_path=":memory:", public_url="https://work.example.org/")
    with start_in_thread(config) as running:
        assert join_url(running.marketplace, "ABCD-EFGH-JKMN") == "https://work.example.org/join/ABCD-EFGH-JKMN"
    with pytest.raises(ValueError, match="public URL 'work.example.org'"):
        MarketplaceConfig(public_url="work.example.org")
    with pytest.raises(ValueError, match="'10.0.0.300' is not an IP"):
        MarketplaceConfig(forwarded_allow_ips=["10.0.0.300"])
    assert MarketplaceConfig(forwarded_allow_ips=["10.0.0.0/8", "::1", "*"]).forwarded_allow_ips == [
        "10.0.0.0/8",
        "::1",
        "*",
    ]
