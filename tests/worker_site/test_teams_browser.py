"""A private team in headless Chromium: a worker opens the invite link, signs up on the invite page,
sees and works the team's HIT; a worker who signed up without an invite sees only the public HIT
and is refused the team's preview."""

from __future__ import annotations

import pytest

from .site_helpers import browser_sign_up, create_hit
from .team_helpers import invite_code, make_team, team_requirement

pytestmark = pytest.mark.browser


def test_invited_worker_signs_up_from_the_link_and_works_the_team_hit(page, browser, market, mturk) -> None:
    site = market.worker_site_url
    make_team(market, mturk)
    code = invite_code(market)
    team_type, team_hit = create_hit(mturk, Title="Team only task", QualificationRequirements=[team_requirement(mturk)])
    public_type, _ = create_hit(mturk, Title="Public task")

    page.goto(f"{site}/join/{code}")
    assert page.text_content("#team-name") == "annotators"
    page.fill("#signup-form input[name=username]", "invited-worker")
    page.fill("#signup-form input[name=password]", "a long password")
    page.fill("#signup-form input[name=confirm]", "a long password")
    page.click("#signup-form button[type=submit]")
    page.wait_for_url(f"{site}/")
    member_id = page.get_attribute("#worker-id", "data-worker-id")
    assert page.locator(f'tr.hit-group[data-hit-type-id="{team_type}"]').count() == 1

    page.click(f'tr.hit-group[data-hit-type-id="{team_type}"] .accept-form button')
    page.wait_for_url(f"{site}/tasks/*")
    frame = page.frame_locator("#hit-frame")
    frame.locator("input[name=category][value=cat]").check()
    frame.locator("#submitButton").click()
    frame.locator("#hit-submitted").wait_for()
    [assignment] = mturk.list_assignments_for_hit(HITId=team_hit)["Assignments"]
    assert assignment["WorkerId"] == member_id

    page.goto(f"{site}/dashboard")
    assert page.locator("#teams li.team").all_text_contents() == ["annotators"]

    outsider = browser.new_context().new_page()
    try:
        browser_sign_up(outsider, site, "uninvited-worker")
        groups = outsider.locator("tr.hit-group")
        assert [groups.nth(i).get_attribute("data-hit-type-id") for i in range(groups.count())] == [public_type]
        response = outsider.goto(f"{site}/projects/{team_type}/preview")
        assert response.status == 403
        assert "crowd-broker team: annotators" in outsider.text_content("#error-message")
        used = outsider.goto(f"{site}/join/{code}")  # the invite's one use is spent
        assert used.status == 404 and "used already" in outsider.text_content("#error-message")
    finally:
        outsider.context.close()
