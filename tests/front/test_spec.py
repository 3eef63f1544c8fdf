"""Job spec: pydantic validation with every error mapped to file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from broker.spec import JobSpec, SpecError, load_job_spec

from .helpers import BASE_SPEC, EXAMPLES, NOT_JOB_SPECS, STREAMING_SPECS


def issues_of(path: Path) -> list[tuple[int | None, str, str]]:
    with pytest.raises(SpecError) as caught:
        load_job_spec(path)
    for issue in caught.value.issues:
        assert issue.file == str(path)
    return [(issue.line, issue.field, issue.message) for issue in caught.value.issues]


def test_valid_spec_loads_with_derived_values(write_file, tmp_path):
    spec = load_job_spec(write_file("job.yaml", BASE_SPEC))
    assert spec.job_name == "test-job"
    assert spec.labels == ["cat", "dog", "bird"]
    assert spec.reward_cents == 5
    assert spec.input_manifest == str(tmp_path / "input.manifest")  # relative to the spec file
    assert spec.output == str(tmp_path / "out")
    assert spec.spec_path == str(tmp_path / "job.yaml")
    assert spec.output_type == "groundtruth/image-classification"
    assert spec.header_text == "Name the animal"
    assert spec.marketplace == "local"
    assert spec.budget_cents is None
    assert spec.masters is False


def test_errors_name_file_line_and_field(write_file):
    path = write_file(
        "job.yaml",
        """\
        job_name: -bad
        task_type: image-classification
        labels: [cat, dog]
        input_manifest: input.manifest
        output: out
        reward: "0.05"
        workers_per_object: 12
        title: t
        description: d
        qualifications:
          approval_rate: 120
          colour: red
        tittle: typo
    """,
    )
    found = issues_of(path)
    assert (1, "job_name") == found[0][:2]
    fields = {(line, field) for line, field, _ in found}
    assert (7, "workers_per_object") in fields
    assert (11, "qualifications.approval_rate") in fields
    assert (12, "qualifications.colour") in fields
    assert (13, "tittle") in fields
    assert [message for _, field, message in found if field == "tittle"] == [
        "unknown field (check the spelling; see config/examples/)"
    ]


def test_cross_field_rule_errors_point_at_their_field(write_file):
    path = write_file(
        "job.yaml",
        BASE_SPEC.replace('reward: "0.05"', 'reward: "0.055"').replace("labels: [cat, dog, bird]", "labels: [cat]"),
    )
    found = issues_of(path)
    assert (4, "labels") in {(line, field) for line, field, _ in found}
    assert (8, "reward") in {(line, field) for line, field, _ in found}
    assert any("two decimals" in message for _, _, message in found)


def test_missing_required_field_points_at_the_document(write_file):
    path = write_file("job.yaml", BASE_SPEC.replace("title: Name the animal\n", ""))
    assert (1, "title", "Field required") in issues_of(path)


def test_missing_reward_is_an_error(write_file):
    path = write_file("job.yaml", BASE_SPEC.replace('reward: "0.05"\n', ""))
    assert [field for _, field, _ in issues_of(path)] == ["reward"]


def test_yaml_syntax_error_names_the_line(write_file):
    path = write_file("job.yaml", "job_name: a\ntask_type: [unclosed\nlabels: [a, b]\n")
    ((line, field, message),) = issues_of(path)
    assert line in (2, 3) and "YAML syntax error" in message


def test_duplicate_keys_are_errors(write_file):
    path = write_file("job.yaml", BASE_SPEC + "workers_per_object: 5\n")
    assert (11, "workers_per_object", "key given twice") in issues_of(path)


def test_nested_list_item_error_line(write_file):
    path = write_file(
        "job.yaml",
        BASE_SPEC
        + """\
qualifications:
  custom:
    - qualification_type_id: 3ABC
      comparator: Exists
    - qualification_type_id: 3DEF
      comparator: In
""",
    )
    found = issues_of(path)
    assert [(line, field) for line, field, _ in found] == [(15, "qualifications.custom[1]")]
    assert "takes 1 to 15 values" in found[0][2]


def test_missing_file():
    with pytest.raises(SpecError) as caught:
        load_job_spec("/nonexistent/job.yaml")
    assert "file not found" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("source", "reserved"),
        ("source-ref", "reserved"),
        ("animal-metadata", "-metadata"),
        ("mask-ref", "-ref"),
        ("has space", "letters, digits"),
        ("-lead", "letters, digits"),
        ("a" * 128, "letters, digits"),
    ],
)
def test_label_attribute_name_follows_ground_truth(write_file, name, reason):
    path = write_file("job.yaml", BASE_SPEC.replace("label_attribute_name: animal", f"label_attribute_name: '{name}'"))
    ((line, field, message),) = issues_of(path)
    assert (line, field) == (2, "label_attribute_name") and reason in message


def test_label_attribute_defaults_to_job_name(write_file):
    spec = load_job_spec(write_file("job.yaml", BASE_SPEC.replace("label_attribute_name: animal\n", "")))
    assert spec.label_attribute_name == "test-job"


def test_job_name_at_most_63_characters(write_file):
    path = write_file("job.yaml", BASE_SPEC.replace("job_name: test-job", "job_name: " + "j" * 64))
    assert issues_of(path)[0][:2] == (1, "job_name")
    assert load_job_spec(write_file("ok.yaml", BASE_SPEC.replace("job_name: test-job", "job_name: " + "j" * 63)))


def test_labels_unique_and_bounded(write_file):
    path = write_file("job.yaml", BASE_SPEC.replace("labels: [cat, dog, bird]", "labels: [cat, dog, cat]"))
    assert "repeated: cat" in issues_of(path)[0][2]
    many = ", ".join(f"l{index}" for index in range(31))
    path = write_file("many.yaml", BASE_SPEC.replace("labels: [cat, dog, bird]", f"labels: [{many}]"))
    assert "at most 30 labels" in issues_of(path)[0][2]
    multi = BASE_SPEC.replace("task_type: image-classification", "task_type: image-classification-multilabel")
    assert (
        len(
            load_job_spec(
                write_file("multi.yaml", multi.replace("labels: [cat, dog, bird]", f"labels: [{many}]"))
            ).labels
        )
        == 31
    )


def test_label_category_config_inline_and_file(write_file):
    config = {"document-version": "2018-11-28", "labels": [{"label": "cat"}, {"label": "dog"}]}
    inline = BASE_SPEC.replace("labels: [cat, dog, bird]", f"label_category_config: {json.dumps(config)}")
    assert load_job_spec(write_file("inline.yaml", inline)).labels == ["cat", "dog"]
    write_file("categories.json", json.dumps(config))
    from_file = BASE_SPEC.replace("labels: [cat, dog, bird]", "label_category_config: categories.json")
    spec = load_job_spec(write_file("file.yaml", from_file))
    assert spec.labels == ["cat", "dog"]
    # The dump round-trips without the raw config (labels carry it).
    again = JobSpec.model_validate(json.loads(json.dumps(spec.model_dump(mode="json"))))
    assert again.labels == ["cat", "dog"] and again.reward_cents == 5


def test_label_category_config_errors(write_file):
    both = BASE_SPEC + "label_category_config: {labels: [{label: x}, {label: y}]}\n"
    assert ("label_category_config", "give labels or label_category_config, not both") in [
        (field, message) for _, field, message in issues_of(write_file("both.yaml", both))
    ]
    missing = BASE_SPEC.replace("labels: [cat, dog, bird]", "label_category_config: nowhere.json")
    ((line, field, message),) = issues_of(write_file("missing.yaml", missing))
    assert (line, field) == (4, "label_category_config") and "not found" in message
    wrong = BASE_SPEC.replace("labels: [cat, dog, bird]", "label_category_config: {labels: [{name: x}]}")
    ((line, field, message),) = issues_of(write_file("wrong.yaml", wrong))
    assert field == "label_category_config" and "label category format" in message


def test_reward_cents_and_budget(write_file):
    spec = load_job_spec(
        write_file("job.yaml", BASE_SPEC.replace('reward: "0.05"', "reward_cents: 7") + 'budget_usd: "12.50"\n')
    )
    assert (spec.reward_cents, spec.budget_cents) == (7, 1250)
    spec = load_job_spec(write_file("float.yaml", BASE_SPEC.replace('reward: "0.05"', "reward: 0.05")))
    assert spec.reward_cents == 5
    both = BASE_SPEC.replace('reward: "0.05"', 'reward: "0.05"\nreward_cents: 6')
    assert "not both" in issues_of(write_file("both.yaml", both))[0][2]


def test_durations(write_file):
    text = BASE_SPEC + "assignment_duration_seconds: 10m\nlifetime_seconds: 6h\nauto_approval_delay_seconds: 3d\n"
    spec = load_job_spec(write_file("job.yaml", text))
    assert (spec.assignment_duration_seconds, spec.lifetime_seconds, spec.auto_approval_delay_seconds) == (
        600,
        21600,
        259200,
    )
    too_short = BASE_SPEC + "assignment_duration_seconds: 10\n"
    assert issues_of(write_file("short.yaml", too_short))[0][:2] == (11, "assignment_duration_seconds")
    too_long = BASE_SPEC + "auto_approval_delay_seconds: 31d\n"
    assert issues_of(write_file("long.yaml", too_long))[0][:2] == (11, "auto_approval_delay_seconds")


@pytest.mark.parametrize("value", ["local", "sandbox", "production", "http://127.0.0.1:9000"])
def test_marketplace_values(write_file, value):
    assert load_job_spec(write_file("job.yaml", BASE_SPEC + f"marketplace: '{value}'\n")).marketplace == value


def test_unknown_marketplace(write_file):
    assert issues_of(write_file("job.yaml", BASE_SPEC + "marketplace: moon\n"))[0][:2] == (11, "marketplace")


def test_qualifications_to_mturk(write_file):
    text = (
        BASE_SPEC
        + """\
qualifications:
  approval_rate: 95
  approved_count: 500
  locale: [US, GB-ENG]
  masters: true
  custom:
    - qualification_type_id: 3XYZ
      comparator: DoesNotExist
      actions_guarded: Accept
"""
    )
    spec = load_job_spec(write_file("job.yaml", text + "marketplace: sandbox\n"))
    requirements = spec.qualification_requirements()
    assert requirements == [
        {
            "QualificationTypeId": "000000000000000000L0",
            "Comparator": "GreaterThanOrEqualTo",
            "IntegerValues": [95],
            "ActionsGuarded": "DiscoverPreviewAndAccept",
        },
        {
            "QualificationTypeId": "00000000000000000040",
            "Comparator": "GreaterThanOrEqualTo",
            "IntegerValues": [500],
            "ActionsGuarded": "DiscoverPreviewAndAccept",
        },
        {
            "QualificationTypeId": "00000000000000000071",
            "Comparator": "In",
            "LocaleValues": [{"Country": "US"}, {"Country": "GB", "Subdivision": "ENG"}],
            "ActionsGuarded": "DiscoverPreviewAndAccept",
        },
        {
            "QualificationTypeId": "2ARFPLSP75KLA8M8DH1HTEQVJT3SY6",
            "Comparator": "Exists",
            "ActionsGuarded": "DiscoverPreviewAndAccept",
        },
        {"QualificationTypeId": "3XYZ", "Comparator": "DoesNotExist", "ActionsGuarded": "Accept"},
    ]
    assert spec.masters is True
    production = load_job_spec(write_file("prod.yaml", text + "marketplace: production\n"))
    assert (
        production.qualifications.to_mturk("production")[3]["QualificationTypeId"] == "2F1QJWKUDD8XADTFD2Q0G6UTO95ALH"
    )


def test_single_locale_uses_equal_to(write_file):
    spec = load_job_spec(write_file("job.yaml", BASE_SPEC + "qualifications:\n  locale: US\n"))
    assert spec.qualification_requirements() == [
        {
            "QualificationTypeId": "00000000000000000071",
            "Comparator": "EqualTo",
            "LocaleValues": [{"Country": "US"}],
            "ActionsGuarded": "DiscoverPreviewAndAccept",
        }
    ]


def test_at_most_ten_qualification_requirements(write_file):
    customs = "".join(f"    - {{qualification_type_id: Q{index}, comparator: Exists}}\n" for index in range(10))
    text = BASE_SPEC + "qualifications:\n  approval_rate: 90\n  custom:\n" + customs
    ((line, field, message),) = issues_of(write_file("job.yaml", text))
    assert (line, field) == (11, "qualifications") and "at most 10" in message


def test_custom_task_needs_a_template(write_file, tmp_path):
    text = BASE_SPEC.replace("task_type: image-classification", "task_type: custom")
    assert [(field) for _, field, _ in issues_of(write_file("job.yaml", text))] == ["template"]
    spec = load_job_spec(write_file("ok.yaml", text + "template: my.liquid\n"))
    assert spec.template == str(tmp_path / "my.liquid")
    assert spec.output_type == "groundTruth/custom"


def test_keywords_from_text_or_list(write_file):
    spec = load_job_spec(write_file("job.yaml", BASE_SPEC + "keywords: image, animals ,quick\n"))
    assert spec.keywords == ["image", "animals", "quick"] and spec.keywords_text == "image, animals, quick"


def test_dump_round_trips(write_file):
    spec = load_job_spec(write_file("job.yaml", BASE_SPEC + 'budget_usd: "3"\nqualifications: {masters: true}\n'))
    again = JobSpec.model_validate(json.loads(json.dumps(spec.model_dump(mode="json"))))
    assert again == spec


@pytest.mark.parametrize(
    "name", sorted(path.name for path in EXAMPLES.glob("*.yaml") if path.name not in NOT_JOB_SPECS + STREAMING_SPECS)
)
def test_examples_are_valid(name):
    spec = load_job_spec(EXAMPLES / name)
    assert Path(spec.input_manifest).is_file()
    assert spec.title and spec.reward_cents


def test_budget_must_pay_for_one_object(write_file):
    path = write_file("job.yaml", BASE_SPEC + 'budget_usd: "0.17"\n')  # 3 x (5c + 1c) = 18c
    ((line, field, message),) = issues_of(path)
    assert (line, field) == (11, "budget_usd") and "cannot pay for one object" in message and "0.18" in message
    assert load_job_spec(write_file("ok.yaml", BASE_SPEC + 'budget_usd: "0.18"\n')).budget_cents == 18


def test_field_errors_and_cross_field_rules_are_reported_together(write_file):
    text = BASE_SPEC.replace("labels: [cat, dog, bird]", "labels: [cat]").replace(
        "workers_per_object: 3", "workers_per_object: x"
    )
    found = issues_of(write_file("job.yaml", text))
    assert [(line, field) for line, field, _ in found] == [(4, "labels"), (7, "workers_per_object")]
    budget = BASE_SPEC.replace("workers_per_object: 3", "workers_per_object: 99") + 'budget_usd: "0.10"\n'
    assert [field for _, field, _ in issues_of(write_file("budget.yaml", budget))] == ["workers_per_object"]


def test_yaml_12_booleans_keep_yes_no_and_norway(write_file):
    text = BASE_SPEC.replace("labels: [cat, dog, bird]", "labels: [yes, no, maybe]") + (
        "qualifications:\n  locale: [NO, ON]\n  masters: true\n"
    )
    spec = load_job_spec(write_file("job.yaml", text))
    assert spec.labels == ["yes", "no", "maybe"]
    assert [locale.country for locale in spec.qualifications.locale] == ["NO", "ON"]
    assert spec.masters is True


def test_workforce_names_a_private_team(write_file):
    spec = load_job_spec(write_file("job.yaml", BASE_SPEC + "workforce:\n  team: annotators-2\n"))
    assert spec.workforce is not None and spec.workforce.team == "annotators-2"
    assert load_job_spec(write_file("crowd.yaml", BASE_SPEC)).workforce is None
    again = JobSpec.model_validate(json.loads(json.dumps(spec.model_dump(mode="json"))))
    assert again.workforce == spec.workforce


@pytest.mark.parametrize(
    ("block", "line", "field", "wording"),
    [
        ("workforce: {team: my team}\n", 11, "workforce.team", "a team name: 1-63 letters, digits and hyphens"),
        ("workforce: {team: -team}\n", 11, "workforce.team", "a team name: 1-63 letters, digits and hyphens"),
        (f"workforce: {{team: {'t' * 64}}}\n", 11, "workforce.team", "a team name: 1-63 letters"),
        ("workforce: {team: 7}\n", 11, "workforce.team", "Input should be a valid string"),
        (
            "workforce: annotators\n",
            11,
            "workforce",
            "a mapping naming the private team, e.g. workforce: {team: my-team}",
        ),
        ("workforce: {}\n", 11, "workforce.team", "Field required"),
        ("workforce:\n  team: a\n  vendor: b\n", 13, "workforce.vendor", "unknown field"),
    ],
)
def test_bad_workforce_values_give_one_line_errors_naming_the_field(write_file, block, line, field, wording):
    path = write_file("job.yaml", BASE_SPEC + block)
    ((at, named, message),) = issues_of(path)
    assert (at, named) == (line, field) and message.startswith(wording)
    with pytest.raises(SpecError) as caught:
        load_job_spec(path)
    assert str(caught.value) == f"{path}:{line}: {field}: {message}" and "\n" not in str(caught.value)


def test_a_team_counts_toward_mturks_ten_requirements(write_file):
    customs = "".join(f"    - {{qualification_type_id: Q{index}, comparator: Exists}}\n" for index in range(9))
    text = BASE_SPEC + "qualifications:\n  approval_rate: 90\n  custom:\n" + customs + "workforce: {team: annotators}\n"
    ((_, field, message),) = issues_of(write_file("job.yaml", text))
    assert field == "workforce" and "makes 11 requirements; MTurk allows at most 10" in message
