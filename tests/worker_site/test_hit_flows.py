"""HIT groups, preview, accept, return, externalSubmit, dashboard and the rules between workers."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from .site_helpers import SIMPLE_FORM, create_hit

ANSWERS_NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd"


def test_hit_groups_show_reward_time_availability_and_qualification(web, mturk) -> None:
    hit_type_id, _ = create_hit(mturk, reward="0.25")
    create_hit(mturk, reward="0.25")  # same HIT type: one group of two HITs
    anonymous = web().http.get("/").text
    assert hit_type_id in anonymous and "$0.25" in anonymous and "10 minutes" in anonymous
    assert 'data-hits-available="2"' in anonymous
    assert "accept-form" not in anonymous  # must sign in to accept

    worker = web()
    worker.sign_up("hana")
    page = worker.http.get("/").text
    assert 'data-qualified="true"' in page and "Qualified" in page and "accept-form" in page


def test_preview_frame_has_mturk_parameters_and_cannot_submit(web, mturk, market) -> None:
    hit_type_id, hit_id = create_hit(mturk)
    worker = web()
    worker.sign_up("ivan")
    preview = worker.http.get(f"/projects/{hit_type_id}/preview")
    assert preview.status_code == 200
    src, params = worker.frame_params(preview.text)
    assert params == {
        "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE",
        "hitId": hit_id,
        "turkSubmitTo": market.worker_site_url,
    }
    question = worker.http.get(src)
    assert question.text == SIMPLE_FORM  # the raw HTMLContent
    assert "sandbox allow-scripts allow-forms" in question.headers["content-security-policy"]

    refused = worker.submit([("assignmentId", "ASSIGNMENT_ID_NOT_AVAILABLE"), ("category", "cat")])
    assert refused.status_code == 400 and "previewed" in refused.text
    assert mturk.list_assignments_for_hit(HITId=hit_id)["Assignments"] == []


def test_accept_work_submit_stores_answer_xml_exactly_as_mturk(web, mturk, market) -> None:
    hit_type_id, hit_id = create_hit(mturk)
    worker = web()
    worker_id = worker.sign_up("jane")
    assignment_id = worker.accepted_assignment(worker.accept_group(hit_type_id))

    task = worker.http.get(f"/tasks/{assignment_id}")
    assert task.status_code == 200
    src, params = worker.frame_params(task.text)
    assert list(params) == ["assignmentId", "hitId", "turkSubmitTo", "workerId"]
    assert params == {
        "assignmentId": assignment_id,
        "hitId": hit_id,
        "turkSubmitTo": market.worker_site_url,
        "workerId": worker_id,
    }
    assert worker.http.get(src).status_code == 200

    fields = [
        ("assignmentId", assignment_id),
        ("category", "dog"),
        ("tags", "a & b <c>"),
        ("tags", "café"),
        ("comment", ""),
        ("taskAnswers", '[{"category":{"label":"dog"}}]'),
    ]
    done = worker.submit(fields)
    assert done.status_code == 200 and "HIT submitted" in done.text

    [assignment] = mturk.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert assignment["WorkerId"] == worker_id and assignment["AssignmentStatus"] == "Submitted"
    assert assignment["Answer"] == (
        '<?xml version="1.0" encoding="ASCII"?>'
        f'<QuestionFormAnswers xmlns="{ANSWERS_NS}">'
        "<Answer><QuestionIdentifier>category</QuestionIdentifier><FreeText>dog</FreeText></Answer>"
        "<Answer><QuestionIdentifier>tags</QuestionIdentifier><FreeText>a &amp; b &lt;c&gt;</FreeText></Answer>"
        "<Answer><QuestionIdentifier>tags</QuestionIdentifier><FreeText>caf&#233;</FreeText></Answer>"
        "<Answer><QuestionIdentifier>comment</QuestionIdentifier><FreeText></FreeText></Answer>"
        '<Answer><QuestionIdentifier>taskAnswers</QuestionIdentifier><FreeText>[{"category":{"label":"dog"}}]</FreeText></Answer>'
        "</QuestionFormAnswers>"
    )
    again = worker.submit(fields)
    assert again.status_code == 409  # no double submission
    assert len(mturk.list_assignments_for_hit(HITId=hit_id)["Assignments"]) == 1


def test_cannot_accept_the_same_hit_twice(web, mturk) -> None:
    hit_type_id, hit_id = create_hit(mturk, max_assignments=3)
    worker = web()
    worker.sign_up("kate")
    worker.accepted_assignment(worker.accept_hit(hit_id))
    twice = worker.accept_hit(hit_id)
    assert twice.status_code == 409 and "already" in twice.text
    assert worker.accept_group(hit_type_id).status_code == 404  # the group has nothing else for her
    assert mturk.get_hit(HITId=hit_id)["HIT"]["NumberOfAssignmentsAvailable"] == 2


def test_return_makes_the_hit_available_again(web, mturk, market) -> None:
    _, hit_id = create_hit(mturk, max_assignments=1)
    worker = web()
    worker_id = worker.sign_up("liam")
    assignment_id = worker.accepted_assignment(worker.accept_hit(hit_id))
    assert mturk.get_hit(HITId=hit_id)["HIT"]["NumberOfAssignmentsAvailable"] == 0
    returned = worker.post(f"/tasks/{assignment_id}/return", {})
    assert returned.status_code == 303
    assert market.marketplace.assignment_for_worker(assignment_id, worker_id).status == "Returned"
    assert mturk.get_hit(HITId=hit_id)["HIT"]["NumberOfAssignmentsAvailable"] == 1
    assert worker.submit([("assignmentId", assignment_id), ("x", "1")]).status_code == 409
    assert "nothing left to do" in worker.http.get(f"/tasks/{assignment_id}").text


def test_a_worker_cannot_see_or_submit_another_workers_assignment(web, mturk) -> None:
    _, hit_id = create_hit(mturk)
    owner, intruder = web(), web()
    owner.sign_up("mona")
    intruder.sign_up("nick")
    assignment_id = owner.accepted_assignment(owner.accept_hit(hit_id))

    assert intruder.http.get(f"/tasks/{assignment_id}").status_code == 404
    frame = intruder.http.get(f"/hits/{hit_id}/question", params={"assignmentId": assignment_id, "hitId": hit_id})
    assert frame.status_code == 404
    assert intruder.submit([("assignmentId", assignment_id), ("category", "cat")]).status_code == 404
    assert intruder.post(f"/tasks/{assignment_id}/return", {}).status_code == 404
    assert mturk.list_assignments_for_hit(HITId=hit_id)["Assignments"] == []  # still only accepted by its owner
    assert owner.submit([("assignmentId", assignment_id), ("category", "cat")]).status_code == 200


def test_blocked_worker_cannot_accept(web, mturk) -> None:
    hit_type_id, hit_id = create_hit(mturk)
    worker = web()
    worker_id = worker.sign_up("olga")
    mturk.create_worker_block(WorkerId=worker_id, Reason="spam")
    page = worker.http.get("/").text
    assert 'data-blocked="true"' in page and "Blocked" in page
    assert worker.accept_hit(hit_id).status_code == 403
    assert worker.accept_group(hit_type_id).status_code == 403
    assert mturk.get_hit(HITId=hit_id)["HIT"]["NumberOfAssignmentsAvailable"] == 2


def test_unqualified_worker_cannot_accept_until_granted(web, mturk) -> None:
    qualification = mturk.create_qualification_type(
        Name="Animal expert", Description="Knows animals", QualificationTypeStatus="Active"
    )["QualificationType"]["QualificationTypeId"]
    requirement = {"QualificationTypeId": qualification, "Comparator": "GreaterThanOrEqualTo", "IntegerValues": [80]}
    hit_type_id, hit_id = create_hit(mturk, QualificationRequirements=[requirement])
    worker = web()
    worker_id = worker.sign_up("paul")
    assert 'data-qualified="false"' in worker.http.get("/").text
    refused = worker.accept_hit(hit_id)
    assert refused.status_code == 403 and "Animal expert" in refused.text

    mturk.associate_qualification_with_worker(QualificationTypeId=qualification, WorkerId=worker_id, IntegerValue=90)
    assert 'data-qualified="true"' in worker.http.get("/").text
    worker.accepted_assignment(worker.accept_group(hit_type_id))


def test_dashboard_shows_earnings_counts_messages_and_qualifications(web, mturk) -> None:
    _, hit_id = create_hit(mturk, reward="0.40")
    worker = web()
    worker_id = worker.sign_up("quinn")
    assignment_id = worker.accepted_assignment(worker.accept_hit(hit_id))
    active = worker.http.get("/dashboard").text
    assert f"/tasks/{assignment_id}" in active  # in progress
    worker.submit([("assignmentId", assignment_id), ("category", "cat")])
    pending = worker.http.get("/dashboard").text
    assert 'id="pending">$0.40' in pending and 'id="submitted-count">1' in pending

    mturk.approve_assignment(AssignmentId=assignment_id)
    mturk.send_bonus(
        WorkerId=worker_id, BonusAmount="0.10", AssignmentId=assignment_id, Reason="Great work", UniqueRequestToken="b1"
    )
    mturk.notify_workers(Subject="Thanks", MessageText="More HITs tomorrow.", WorkerIds=[worker_id])
    board = worker.http.get("/dashboard").text
    assert 'id="earnings">$0.40' in board and 'id="bonuses">$0.10' in board
    assert 'id="approved-count">1' in board and 'id="rejected-count">0' in board
    assert "More HITs tomorrow." in board and "Worker_Locale" in board


def test_question_form_hit_answers_with_selection_identifiers(web, mturk) -> None:
    form = (
        '<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2017-11-06/QuestionForm.xsd">'
        "<Question><QuestionIdentifier>animal</QuestionIdentifier><IsRequired>true</IsRequired>"
        "<QuestionContent><Text>Which animal?</Text></QuestionContent><AnswerSpecification><SelectionAnswer>"
        "<StyleSuggestion>radiobutton</StyleSuggestion><Selections>"
        "<Selection><SelectionIdentifier>cat</SelectionIdentifier><Text>Cat</Text></Selection>"
        "<Selection><SelectionIdentifier>dog</SelectionIdentifier><Text>Dog</Text></Selection>"
        "</Selections></SelectionAnswer></AnswerSpecification></Question>"
        "<Question><QuestionIdentifier>why</QuestionIdentifier><QuestionContent><Text>Why?</Text></QuestionContent>"
        "<AnswerSpecification><FreeTextAnswer/></AnswerSpecification></Question></QuestionForm>"
    )
    _, hit_id = create_hit(mturk, Question=form)
    worker = web()
    worker.sign_up("rita")
    assignment_id = worker.accepted_assignment(worker.accept_hit(hit_id))
    src, _ = worker.frame_params(worker.http.get(f"/tasks/{assignment_id}").text)
    page = worker.http.get(src).text
    assert "Which animal?" in page and 'value="dog"' in page
    done = worker.post(
        f"/hits/{hit_id}/questionform",
        [("assignmentId", assignment_id), ("animal", "dog"), ("why", "ears")],
        csrf=False,
    )
    assert done.status_code == 200, done.text
    [assignment] = mturk.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert (
        "<Answer><QuestionIdentifier>animal</QuestionIdentifier><SelectionIdentifier>dog</SelectionIdentifier></Answer>"
        "<Answer><QuestionIdentifier>why</QuestionIdentifier><FreeText>ears</FreeText></Answer>"
    ) in assignment["Answer"]


def test_auto_granted_qualification_can_be_requested(web, mturk) -> None:
    qualification = mturk.create_qualification_type(
        Name="Newcomer", Description="Anyone", QualificationTypeStatus="Active", AutoGranted=True, AutoGrantedValue=5
    )["QualificationType"]["QualificationTypeId"]
    worker = web()
    worker_id = worker.sign_up("sam")
    assert "Newcomer" in worker.http.get("/qualifications").text
    assert worker.post(f"/qualifications/{qualification}/request", {}).status_code == 303
    score = mturk.get_qualification_score(QualificationTypeId=qualification, WorkerId=worker_id)["Qualification"]
    assert score["IntegerValue"] == 5


def test_local_files_are_served_only_under_file_roots(web, files_root, tmp_path) -> None:
    image = files_root / "img" / "1.png"
    image.parent.mkdir()
    image.write_bytes(b"\x89PNG fake")
    secret = tmp_path / "secret.txt"
    secret.write_text("no")
    client = web().http
    served = client.get(f"/local-files{image}")
    assert served.status_code == 200 and served.content == b"\x89PNG fake"
    assert client.get(f"/local-files{secret}").status_code == 404
    assert client.get(f"/local-files{files_root}/img/../../secret.txt").status_code == 404
    assert client.get("/local-files/etc/passwd").status_code == 404


@pytest.mark.parametrize("path", ["/dashboard", "/qualifications", "/tasks/NOPE"])
def test_worker_pages_need_sign_in(web, path) -> None:
    response = web().http.get(path)
    assert response.status_code == 303 and urlsplit(response.headers["location"]).path == "/signin"


def test_external_question_frame_gets_the_four_parameters_and_cross_site_submit_works(web, mturk, market) -> None:
    external = (
        '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd">'
        "<ExternalURL>https://tasks.example.org/label?batch=7</ExternalURL><FrameHeight>600</FrameHeight></ExternalQuestion>"
    )
    hit_type_id, hit_id = create_hit(mturk, Question=external)
    worker = web()
    worker_id = worker.sign_up("tara")
    src, params = worker.frame_params(worker.http.get(f"/projects/{hit_type_id}/preview").text)
    assert src.startswith("https://tasks.example.org/label?batch=7&assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&")
    assignment_id = worker.accepted_assignment(worker.accept_hit(hit_id))
    src, params = worker.frame_params(worker.http.get(f"/tasks/{assignment_id}").text)
    assert src.startswith("https://tasks.example.org/label?batch=7&assignmentId=")
    assert params == {
        "batch": "7",
        "assignmentId": assignment_id,
        "hitId": hit_id,
        "turkSubmitTo": market.worker_site_url,
        "workerId": worker_id,
    }

    # The external page posts back from another site: no session cookie, the assignmentId identifies the work.
    cross_site = web().submit([("assignmentId", assignment_id), ("answer", "42")])
    assert cross_site.status_code == 200
    [assignment] = mturk.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert assignment["WorkerId"] == worker_id and "<FreeText>42</FreeText>" in assignment["Answer"]
    assert web().submit([("assignmentId", "NOSUCHASSIGNMENT"), ("answer", "1")]).status_code == 403


def test_qualification_test_is_taken_on_the_site_and_scored(web, mturk) -> None:
    test = (
        '<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2017-11-06/QuestionForm.xsd">'
        "<Question><QuestionIdentifier>q1</QuestionIdentifier><QuestionContent><Text>2+2?</Text></QuestionContent>"
        "<AnswerSpecification><SelectionAnswer><StyleSuggestion>radiobutton</StyleSuggestion><Selections>"
        "<Selection><SelectionIdentifier>four</SelectionIdentifier><Text>4</Text></Selection>"
        "<Selection><SelectionIdentifier>five</SelectionIdentifier><Text>5</Text></Selection>"
        "</Selections></SelectionAnswer></AnswerSpecification></Question></QuestionForm>"
    )
    answer_key = (
        '<AnswerKey xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/AnswerKey.xsd">'
        "<Question><QuestionIdentifier>q1</QuestionIdentifier><AnswerOption><SelectionIdentifier>four</SelectionIdentifier>"
        "<AnswerScore>100</AnswerScore></AnswerOption></Question></AnswerKey>"
    )
    qualification = mturk.create_qualification_type(
        Name="Arithmetic",
        Description="Add numbers",
        QualificationTypeStatus="Active",
        Test=test,
        AnswerKey=answer_key,
        TestDurationInSeconds=300,
    )["QualificationType"]["QualificationTypeId"]
    worker = web()
    worker_id = worker.sign_up("uma")
    page = worker.http.get(f"/qualifications/{qualification}").text
    assert "2+2?" in page and 'value="four"' in page
    assert worker.post(f"/qualifications/{qualification}/request", {"q1": "four"}).status_code == 303
    score = mturk.get_qualification_score(QualificationTypeId=qualification, WorkerId=worker_id)["Qualification"]
    assert score["IntegerValue"] == 100 and score["Status"] == "Granted"


def test_profile_locale_feeds_locale_requirements(web, mturk) -> None:
    requirement = {
        "QualificationTypeId": "00000000000000000071",
        "Comparator": "EqualTo",
        "LocaleValues": [{"Country": "DE"}],
    }
    _, hit_id = create_hit(mturk, QualificationRequirements=[requirement])
    worker = web()
    worker.sign_up("vera")
    assert worker.accept_hit(hit_id).status_code == 403
    assert worker.post("/profile", {"country": "de", "subdivision": ""}).status_code == 303
    worker.accepted_assignment(worker.accept_hit(hit_id))
    assert worker.post("/profile", {"country": "Germany"}).status_code == 400


def test_a_loopback_http_external_question_is_worked_end_to_end(web, mturk, market, files_root) -> None:
    """MTurk wants https; a page on this machine may use plain http (here served by the site itself)."""
    page = files_root / "task.html"
    page.write_text(SIMPLE_FORM)
    url = f"{market.worker_site_url}/local-files{page}"
    assert url.startswith("http://127.0.0.1:")
    external = (
        '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd">'
        f"<ExternalURL>{url}</ExternalURL><FrameHeight>600</FrameHeight></ExternalQuestion>"
    )
    _, hit_id = create_hit(mturk, Question=external)
    worker = web()
    worker.sign_up("uma")
    assignment_id = worker.accepted_assignment(worker.accept_hit(hit_id))
    src, params = worker.frame_params(worker.http.get(f"/tasks/{assignment_id}").text)
    assert src.startswith(url + "?assignmentId=")
    assert worker.http.get(src).text == SIMPLE_FORM
    assert worker.submit([("assignmentId", params["assignmentId"]), ("category", "dog")]).status_code == 200
    [assignment] = mturk.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert "<FreeText>dog</FreeText>" in assignment["Answer"]
