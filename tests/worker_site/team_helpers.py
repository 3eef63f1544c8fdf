"""Private-team helpers for the worker-site tests: a team made as the broker makes it, and its HITs."""

from __future__ import annotations

from broker import mturk as broker_mturk
from broker.actions.qualifications import find_team_qualification
from broker.teams import create_team, invite


def local_target(market) -> broker_mturk.MarketplaceTarget:
    return broker_mturk.MarketplaceTarget(
        "local",
        market.endpoint_url,
        region=market.region,
        access_key_id=market.access_key_id,
        secret_access_key=market.secret_access_key,
        worker_site_url=market.worker_site_url,
    )


def make_team(market, mturk, name: str = "annotators") -> str:
    """The team's QualificationTypeId (created through MTurk's API and the workforce API, as `broker team create`)."""
    return create_team(mturk, local_target(market), name).qualification_type_id


def invite_code(market, name: str = "annotators", uses: int = 1) -> str:
    return invite(local_target(market), name, uses).code


def team_requirement(mturk, name: str = "annotators") -> dict:
    return {
        "QualificationTypeId": find_team_qualification(mturk, name),
        "Comparator": "Exists",
        "ActionsGuarded": "DiscoverPreviewAndAccept",
    }
