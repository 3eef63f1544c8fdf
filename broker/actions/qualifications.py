"""Qualification types put on a job's HIT type, created once and found again.

Each is looked up by its name before it is created, so a crash between the create call and
the commit never makes a second one: the exclusion qualification (a soft block: workers who
hold it cannot see the job), the qualification test (Test + AnswerKey, auto-scored), and a
private team's qualification (held by its members: `workforce: {team: NAME}`).
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

import yaml
from defusedxml import ElementTree
from liquid import Environment
from liquid.exceptions import LiquidError

from broker.spec import SubmitError


class TeamNotFound(SubmitError):
    """The job's `workforce.team` names no team on its marketplace."""


def team_qualification_name(team: str) -> str:
    return f"crowd-broker team: {team}"


def find_team_qualification(client: Any, team: str) -> str | None:
    """The QualificationTypeId whose holders are the team's members, if the team exists."""
    return find_qualification_type(client, team_qualification_name(team))


def team_requirements(client: Any, spec: Any) -> list[dict[str, Any]]:
    """The private team's requirement: only members see, preview and accept the job's HITs."""
    workforce = getattr(spec, "workforce", None)
    if workforce is None:
        return []
    type_id = find_team_qualification(client, workforce.team)
    if type_id is None:
        raise TeamNotFound(
            f"{spec.spec_path}: workforce.team: no team named {workforce.team} on marketplace {spec.marketplace} "
            f"(create it with: broker team create {workforce.team})"
        )
    return [{"QualificationTypeId": type_id, "Comparator": "Exists", "ActionsGuarded": "DiscoverPreviewAndAccept"}]


def exclusion_qualification_name(job_name: str) -> str:
    return f"crowd-broker: excluded from {job_name}"


def ensure_exclusion_qualification(client: Any, job: Any) -> str:
    """The job's exclusion qualification type (found by name after a crash, else created)."""
    name = exclusion_qualification_name(job.name)
    found = find_qualification_type(client, name)
    if found is not None:
        return found
    created = client.create_qualification_type(
        Name=name,
        Description=f"Workers whose accuracy on job {job.name} was below its threshold.",
        QualificationTypeStatus="Active",
    )
    return created["QualificationType"]["QualificationTypeId"]


def exclusion_requirements(client: Any, job: Any, spec: Any) -> list[dict[str, Any]]:
    """QualificationRequirements quality control adds to the job's HIT type (called by publish):
    the exclusion qualification must not exist (soft block); the test score must reach min_score."""
    quality = getattr(spec, "quality", None)
    requirements: list[dict[str, Any]] = []
    rule = getattr(quality, "exclusion", None)
    if rule is not None and rule.action == "qualification":
        requirements.append(
            {
                "QualificationTypeId": ensure_exclusion_qualification(client, job),
                "Comparator": "DoesNotExist",
                "ActionsGuarded": "DiscoverPreviewAndAccept",
            }
        )
    test = getattr(quality, "qualification_test", None)
    if test is not None:
        requirements.append(
            {
                "QualificationTypeId": ensure_test_qualification(client, job, spec),
                "Comparator": "GreaterThanOrEqualTo",
                "IntegerValues": [test.min_score],
                "ActionsGuarded": "Accept",
            }
        )  # workers find and preview the work, then take the test
    return requirements


# --------------------------------------------------------------------------------------------- qualification test

QUESTION_FORM_NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2017-11-06/QuestionForm.xsd"
ANSWER_KEY_NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/AnswerKey.xsd"


class QualificationTestError(SubmitError):
    """The qualification test or its answer key is unusable; the message names the file.
    A SubmitError, so `broker submit` reports it and stores nothing."""


def render_test(spec: Any) -> tuple[str, list[str]]:
    """The test's QuestionForm XML (Liquid rendered with labels, job_name, header) and its question ids."""
    test = spec.quality.qualification_test
    try:
        source = open(test.template, encoding="utf-8").read()
        xml = (
            Environment(autoescape=True)
            .from_string(source)
            .render(labels=list(spec.labels), job_name=spec.job_name, header=spec.header_text)
        )
    except OSError as error:
        raise QualificationTestError(f"{test.template}: cannot read: {error.strerror}") from error
    except LiquidError as error:
        raise QualificationTestError(f"{test.template}: Liquid error: {error}") from error
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as error:
        raise QualificationTestError(f"{test.template}: the rendered test is not XML: {error}") from error
    if root.tag != f"{{{QUESTION_FORM_NS}}}QuestionForm":
        raise QualificationTestError(
            f'{test.template}: the rendered test must be a <QuestionForm xmlns="{QUESTION_FORM_NS}">'
        )
    ids = [(node.text or "").strip() for node in root.iter(f"{{{QUESTION_FORM_NS}}}QuestionIdentifier")]
    return xml, ids


def answer_key_xml(spec: Any, question_ids: list[str]) -> str:
    """MTurk AnswerKey XML: 1 point per right answer, mapped to a 0-100 percentage."""
    test = spec.quality.qualification_test
    try:
        key = yaml.safe_load(open(test.answer_key, encoding="utf-8"))
    except OSError as error:
        raise QualificationTestError(f"{test.answer_key}: cannot read: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise QualificationTestError(f"{test.answer_key}: YAML error: {error}") from error
    if not isinstance(key, dict) or not key:
        raise QualificationTestError(f"{test.answer_key}: must map each QuestionIdentifier to its right answer")
    missing = [q for q in question_ids if str(q) not in {str(k) for k in key}]
    unknown = [str(k) for k in key if str(k) not in question_ids]
    if missing or unknown:
        raise QualificationTestError(
            f"{test.answer_key}: "
            + "; ".join(
                part
                for part in (
                    f"no answer for {', '.join(missing)}" if missing else "",
                    f"not questions of the test: {', '.join(unknown)}" if unknown else "",
                )
                if part
            )
        )
    questions = "".join(
        f"<Question><QuestionIdentifier>{escape(str(q))}</QuestionIdentifier><AnswerOption>"
        f"<SelectionIdentifier>{escape(str(key[q]))}</SelectionIdentifier><AnswerScore>1</AnswerScore>"
        "</AnswerOption></Question>"
        for q in key
    )
    return (
        f'<AnswerKey xmlns="{ANSWER_KEY_NS}">{questions}<QualificationValueMapping><PercentageMapping>'
        f"<MaximumSummedScore>{len(key)}</MaximumSummedScore></PercentageMapping></QualificationValueMapping>"
        "</AnswerKey>"
    )


def check_qualification_test(spec: Any) -> None:
    """Render the test and build the key at submit time, so a broken test never reaches publishing."""
    if getattr(getattr(spec, "quality", None), "qualification_test", None) is not None:
        _, ids = render_test(spec)
        answer_key_xml(spec, ids)


def ensure_test_qualification(client: Any, job: Any, spec: Any) -> str:
    """The job's test qualification type (Test + AnswerKey, auto-scored), found by name or created."""
    test = spec.quality.qualification_test
    name = f"crowd-broker: test for {job.name}"
    found = find_qualification_type(client, name)
    if found is not None:
        return found
    xml, ids = render_test(spec)
    params: dict[str, Any] = {
        "Name": name,
        "Description": f"A short test for {spec.title}"[:2000],
        "QualificationTypeStatus": "Active",
        "Test": xml,
        "AnswerKey": answer_key_xml(spec, ids),
        "TestDurationInSeconds": int(test.duration_seconds),
    }
    if test.retry_delay_seconds is not None:
        params["RetryDelayInSeconds"] = int(test.retry_delay_seconds)
    return client.create_qualification_type(**params)["QualificationType"]["QualificationTypeId"]


def find_qualification_type(client: Any, name: str) -> str | None:
    """The requester's qualification type of exactly this name (MTurk's Query matches substrings)."""
    token = None
    while True:
        params: dict[str, Any] = {
            "Query": name,
            "MustBeRequestable": False,
            "MustBeOwnedByCaller": True,
            "MaxResults": 100,
        }
        if token:
            params["NextToken"] = token
        page = client.list_qualification_types(**params)
        for qualification in page.get("QualificationTypes", []):
            if qualification.get("Name") == name:
                return qualification["QualificationTypeId"]
        token = page.get("NextToken")
        if not token or not page.get("QualificationTypes"):
            return None
