"""A Liquid qualification test with an answer key: a qualification type with Test and AnswerKey that
the job requires; workers who pass may accept, workers who fail may not; a broken test fails submit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sqlmodel import Session, select

from broker.spec import SubmitError
from broker.stages.submit import submit_job
from broker.store import get_engine
from broker.store.tables import Job

TEST_LIQUID = """<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2017-11-06/QuestionForm.xsd">
<Question><QuestionIdentifier>q1</QuestionIdentifier><DisplayName>Review 1</DisplayName><IsRequired>true</IsRequired>
<QuestionContent><Text>{{ header }}: "The soup was cold and the waiter rude."</Text></QuestionContent>
<AnswerSpecification><SelectionAnswer><StyleSuggestion>radiobutton</StyleSuggestion><Selections>
{% for label in labels %}<Selection><SelectionIdentifier>{{ label }}</SelectionIdentifier>\
<Text>{{ label }}</Text></Selection>{% endfor %}
</Selections></SelectionAnswer></AnswerSpecification></Question>
<Question><QuestionIdentifier>q2</QuestionIdentifier><DisplayName>Review 2</DisplayName><IsRequired>true</IsRequired>
<QuestionContent><Text>{{ header }}: "Best meal of my life."</Text></QuestionContent>
<AnswerSpecification><SelectionAnswer><StyleSuggestion>radiobutton</StyleSuggestion><Selections>
{% for label in labels %}<Selection><SelectionIdentifier>{{ label }}</SelectionIdentifier>\
<Text>{{ label }}</Text></Selection>{% endfor %}
</Selections></SelectionAnswer></AnswerSpecification></Question>
</QuestionForm>"""


def _job(tmp_path: Path, key: dict) -> Path:
    (tmp_path / "in.manifest").write_text("".join(json.dumps({"source": f"text {i}"}) + "\n" for i in range(2)))
    (tmp_path / "test.liquid").write_text(TEST_LIQUID)
    (tmp_path / "key.yaml").write_text(yaml.safe_dump(key))
    spec = {
        "job_name": "tested-job",
        "task_type": "text-classification",
        "labels": ["positive", "negative"],
        "header": "Sentiment",
        "input_manifest": "in.manifest",
        "output": "out",
        "workers_per_object": 1,
        "reward": "0.05",
        "title": "Sentiment",
        "description": "Positive or negative?",
        "quality": {
            "qualification_test": {
                "template": "test.liquid",
                "answer_key": "key.yaml",
                "min_score": 100,
                "duration_seconds": "5m",
            }
        },
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _answers(q1: str, q2: str) -> str:
    ns = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd"
    return (
        f'<QuestionFormAnswers xmlns="{ns}">'
        f"<Answer><QuestionIdentifier>q1</QuestionIdentifier><SelectionIdentifier>{q1}</SelectionIdentifier></Answer>"
        f"<Answer><QuestionIdentifier>q2</QuestionIdentifier><SelectionIdentifier>{q2}</SelectionIdentifier></Answer>"
        "</QuestionFormAnswers>"
    )


def test_passing_workers_may_accept_failing_ones_may_not(tmp_path: Path, market, settings):
    from broker.daemon import run_cycle

    engine = get_engine(settings.db_url)
    submit_job(_job(tmp_path, {"q1": "negative", "q2": "positive"}), engine, settings)
    run_cycle(engine, settings, ticks=("publish",))
    marketplace = market.marketplace
    good, bad = marketplace.register_worker("ATESTPASSER01"), marketplace.register_worker("ATESTFAILER02")
    [test] = [
        q for q in marketplace.list_requestable_qualifications(good) if q.name == "crowd-broker: test for tested-job"
    ]
    assert test.has_test and "Best meal of my life" in test.test_xml and "<Selection>" in test.test_xml
    marketplace.request_qualification(good, test.id, _answers("negative", "positive"))
    marketplace.request_qualification(bad, test.id, _answers("positive", "positive"))
    [group] = marketplace.list_hit_groups(bad)  # everyone can find and preview the work
    assert not group.qualified
    hit_id = marketplace.next_hit_for_worker(group.hit_type_id, bad)
    with pytest.raises(Exception, match="(?i)qualif"):
        marketplace.accept_hit(hit_id, bad)  # 50% < 100%: may not accept
    assert marketplace.accept_hit(hit_id, good)  # 100%: may accept
    with Session(engine) as session:
        assert session.exec(select(Job)).one().hit_type_id == group.hit_type_id


def test_answer_key_must_match_the_test(tmp_path: Path, market, settings):
    engine = get_engine(settings.db_url)
    with pytest.raises(SubmitError, match=r"key\.yaml: no answer for q2; not questions of the test: q9"):
        submit_job(_job(tmp_path, {"q1": "negative", "q9": "positive"}), engine, settings)
    with Session(engine) as session:
        assert session.exec(select(Job)).all() == []  # nothing half-submitted
