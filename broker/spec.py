"""The job spec: one YAML file a requester writes, validated by pydantic.

Every error names the file, the line and the field: the YAML is composed into nodes that keep
their marks, and each pydantic error location is walked back through those nodes to a line.
Limits follow Ground Truth (names, labels) and MTurk (durations, title, keywords, qualifications).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from broker.autolabel.config import AutoLabelConfig
from broker.domain.money import MoneyError, cents_to_usd, hit_cost_cents, usd_to_cents
from broker.hooks import check_reference
from broker.queues import is_queue, queue_problem
from broker.storage import StorageError, read_text, resolve_local
from broker.tasks.base import TASK_BLOCKS, TaskType, label_count_rules
from broker.tasks.registry import TASK_TYPES
from broker.verify.config import VerificationConfig

# the spec blocks that only one task type takes, and what to say when another type gives one
TASK_BLOCK_OWNERS = {
    "verification": "only a label-verification job takes it",
    "adjustment": "only a bounding-box-adjustment job takes it",
    "hooks": "only a custom job takes pre- and post-annotation hooks",
}

# Ground Truth's LabelingJobName / LabelAttributeName patterns (botocore sagemaker model).
JOB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# SageMaker's WorkteamName pattern, for private team names
TEAM_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
LABEL_ATTRIBUTE_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,126}$")
RESERVED_ATTRIBUTES = frozenset({"source", "source-ref"})
MAX_LABEL_CHARS = 256
LABEL_CATEGORY_DOCUMENT_VERSION = "2018-11-28"

# MTurk limits (pyMTurkR / botocore): durations, text lengths, qualification requirements.
MIN_DURATION_SECONDS = 30
MAX_DURATION_SECONDS = 365 * 24 * 3600
MAX_AUTO_APPROVAL_DELAY_SECONDS = 30 * 24 * 3600
MAX_TITLE_CHARS = 128
MAX_DESCRIPTION_CHARS = 2000
MAX_KEYWORDS_CHARS = 1000
MAX_QUALIFICATION_REQUIREMENTS = 10
MAX_IN_VALUES = 15

APPROVAL_RATE_QUALIFICATION = "000000000000000000L0"
APPROVED_COUNT_QUALIFICATION = "00000000000000000040"
LOCALE_QUALIFICATION = "00000000000000000071"
MASTERS_QUALIFICATION = {"production": "2F1QJWKUDD8XADTFD2Q0G6UTO95ALH", "sandbox": "2ARFPLSP75KLA8M8DH1HTEQVJT3SY6"}

DURATION_PATTERN = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


# --------------------------------------------------------------------------------------------
# Issues and YAML positions


@dataclass(frozen=True)
class Issue:
    """One problem found in an input file: where it is and what is wrong."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class SpecError(Exception):
    """The job spec is invalid; `issues` lists every problem with file, line and field."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


class SubmitError(Exception):
    """The job cannot be submitted; the message names the file and what is wrong."""


class SpecLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false are booleans, so `labels: [yes, no]` stays
    text and `locale: [NO]` stays Norway instead of turning into False."""


SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    SpecLoader.yaml_implicit_resolvers.setdefault(_first, []).insert(
        0, ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"))
    )


class YamlDocument:
    """A YAML file parsed twice over: plain data, and the node tree that remembers line numbers."""

    def __init__(self, path: str, text: str):
        self.path = path
        loader = SpecLoader(text)
        try:
            self.root = loader.get_single_node()
            self.data = loader.construct_document(self.root) if self.root is not None else None
        finally:
            loader.dispose()

    @classmethod
    def load(cls, path: str, text: str) -> YamlDocument:
        """Parse `text`; a YAML syntax error becomes a SpecError naming the line."""
        try:
            return cls(path, text)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = mark.line + 1 if mark is not None else None
            raise SpecError([Issue(path, line, "", f"YAML syntax error: {error.problem or error}")]) from error
        except yaml.YAMLError as error:
            raise SpecError([Issue(path, None, "", f"YAML error: {error}")]) from error

    def line_of(self, loc: tuple[Any, ...]) -> int | None:
        """The line of the value at `loc` (pydantic's error location); the nearest parent's when absent."""
        node = self.root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in loc:
            child = _child_node(node, part)
            if child is None:
                continue  # union tags such as 'list[str]', or a missing key: stay on the parent
            key_node, node = child
            line = (key_node or node).start_mark.line + 1
        return line

    def duplicate_keys(self) -> list[Issue]:
        """YAML silently keeps the last of two equal keys; a spec that repeats one is a mistake."""
        issues: list[Issue] = []
        stack = [(self.root, "")]
        while stack:
            node, prefix = stack.pop()
            if isinstance(node, yaml.MappingNode):
                seen: set[str] = set()
                for key_node, value_node in node.value:
                    key = str(key_node.value)
                    field = f"{prefix}.{key}" if prefix else key
                    if key in seen:
                        issues.append(Issue(self.path, key_node.start_mark.line + 1, field, "key given twice"))
                    seen.add(key)
                    stack.append((value_node, field))
            elif isinstance(node, yaml.SequenceNode):
                stack.extend((item, f"{prefix}[{index}]") for index, item in enumerate(node.value))
        return sorted(issues, key=lambda issue: issue.line or 0)


def _child_node(node: yaml.Node, part: Any) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if str(key_node.value) == str(part):
                return key_node, value_node
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return None, node.value[part]
    return None


def field_name(loc: tuple[Any, ...], known: YamlDocument | None = None) -> str:
    """('qualifications', 'custom', 0, 'comparator') -> 'qualifications.custom[0].comparator'."""
    text = ""
    node = known.root if known is not None else None
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            if known is not None and node is not None and _child_node(node, part) is None and _is_type_tag(part):
                continue
            text += f".{part}" if text else str(part)
        if node is not None:
            child = _child_node(node, part)
            node = child[1] if child is not None else node
    return text


def _is_type_tag(part: str) -> bool:
    """pydantic adds union-member tags ('str', 'list[str]', 'function-after[...]') to locations."""
    return bool(re.search(r"[\[\]()]", part)) or part in {"str", "int", "float", "bool", "dict", "list", "none"}


def validation_issues(error: ValidationError, document: YamlDocument) -> list[Issue]:
    """pydantic errors -> Issues with the YAML line of each field (cross-field rules carry `ctx`)."""
    issues: list[Issue] = []
    for item in error.errors(include_url=False):
        ctx = item.get("ctx") or {}
        rule_issues = ctx.get("issues")
        if item["type"] == "spec_rules" and rule_issues:
            for loc_text, message in rule_issues:
                loc = tuple(_parse_loc(loc_text))
                issues.append(Issue(document.path, document.line_of(loc), loc_text, message))
            continue
        loc = tuple(item["loc"])
        message = item["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if item["type"] == "extra_forbidden":
            message = "unknown field (check the spelling; see config/examples/)"
        issues.append(Issue(document.path, document.line_of(loc), field_name(loc, document), message))
    return sorted(issues, key=lambda issue: issue.line or 0)


def _parse_loc(text: str) -> list[Any]:
    parts: list[Any] = []
    for piece in re.findall(r"[^.\[\]]+|\[\d+\]", text):
        parts.append(int(piece[1:-1]) if piece.startswith("[") else piece)
    return parts


# --------------------------------------------------------------------------------------------
# Field value parsers


def parse_duration(value: Any) -> Any:
    """600, "600", "90s", "10m", "6h", "3d" -> seconds. Other values go on to pydantic's int check."""
    if isinstance(value, str):
        match = DURATION_PATTERN.match(value)
        if not match:
            raise ValueError(f"not a duration: {value!r} (use seconds, or a number with s, m, h or d)")
        return int(match.group(1)) * DURATION_UNITS[match.group(2)]
    return value


def _usd_text(value: Any) -> Any:
    """YAML reads 0.05 as a float; accept it only when it is an exact cent amount written plainly."""
    if value is None:
        return None
    if isinstance(value, float):
        text = repr(value)
        if "e" in text or len(text.split(".")[1]) > 2:
            raise ValueError(f"not a USD amount with at most two decimals: {value!r}")
        return text
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Seconds = Annotated[int, BeforeValidator(parse_duration)]
UsdText = Annotated[str | None, BeforeValidator(_usd_text)]


def _rules_error(issues: list[tuple[str, str]]) -> PydanticCustomError:
    """One pydantic error carrying several cross-field issues, each with its own field path."""
    summary = "; ".join(f"{field}: {message}" for field, message in issues)
    return PydanticCustomError("spec_rules", "{summary}", {"summary": summary, "issues": issues})


# --------------------------------------------------------------------------------------------
# The spec's parts


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Instructions(StrictModel):
    """What workers read: a short version beside the task, a full one behind a link, examples."""

    short: str = ""
    full: str = ""
    good_examples: list[str] = Field(default_factory=list)
    bad_examples: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return {"short": value} if isinstance(value, str) else value


class LocaleValue(StrictModel):
    """An ISO 3166 country, optionally with an ISO 3166-2 subdivision ("US", "US-CA")."""

    country: str = Field(pattern=r"^[A-Z]{2}$")
    subdivision: str | None = Field(default=None, pattern=r"^[A-Z0-9]{1,3}$")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            country, _, subdivision = value.strip().partition("-")
            return {"country": country, "subdivision": subdivision or None}
        return value

    def to_mturk(self) -> dict[str, str]:
        value = {"Country": self.country}
        if self.subdivision:
            value["Subdivision"] = self.subdivision
        return value


ActionsGuarded = Literal["Accept", "PreviewAndAccept", "DiscoverPreviewAndAccept"]
Comparator = Literal[
    "LessThan",
    "LessThanOrEqualTo",
    "GreaterThan",
    "GreaterThanOrEqualTo",
    "EqualTo",
    "NotEqualTo",
    "Exists",
    "DoesNotExist",
    "In",
    "NotIn",
]


class CustomQualification(StrictModel):
    """A requester's own qualification type (or any system one) as an MTurk QualificationRequirement."""

    qualification_type_id: str = Field(min_length=1, max_length=64)
    comparator: Comparator
    integer_values: list[int] = Field(default_factory=list)
    locale_values: list[LocaleValue] = Field(default_factory=list)
    actions_guarded: ActionsGuarded | None = None

    @model_validator(mode="after")
    def _values_fit_comparator(self) -> CustomQualification:
        count = len(self.integer_values) + len(self.locale_values)
        if self.integer_values and self.locale_values:
            raise ValueError("give integer_values or locale_values, not both")
        if self.comparator in ("Exists", "DoesNotExist") and count:
            raise ValueError(f"comparator {self.comparator} takes no values")
        if self.comparator in ("In", "NotIn") and not 1 <= count <= MAX_IN_VALUES:
            raise ValueError(f"comparator {self.comparator} takes 1 to {MAX_IN_VALUES} values, got {count}")
        if self.comparator not in ("Exists", "DoesNotExist", "In", "NotIn") and count != 1:
            raise ValueError(f"comparator {self.comparator} takes exactly one value, got {count}")
        return self

    def to_mturk(self, default_actions: str) -> dict[str, Any]:
        requirement: dict[str, Any] = {
            "QualificationTypeId": self.qualification_type_id,
            "Comparator": self.comparator,
            "ActionsGuarded": self.actions_guarded or default_actions,
        }
        if self.integer_values:
            requirement["IntegerValues"] = list(self.integer_values)
        if self.locale_values:
            requirement["LocaleValues"] = [locale.to_mturk() for locale in self.locale_values]
        return requirement


class Qualifications(StrictModel):
    """Who may work: MTurk's system qualifications by name, plus custom ones."""

    approval_rate: int | None = Field(default=None, ge=0, le=100, description="minimum % of approved work")
    approved_count: int | None = Field(default=None, ge=0, description="minimum number of approved HITs")
    locale: list[LocaleValue] = Field(default_factory=list, description='countries, e.g. ["US", "CA", "GB-ENG"]')
    masters: bool = False
    custom: list[CustomQualification] = Field(default_factory=list)
    actions_guarded: ActionsGuarded = "DiscoverPreviewAndAccept"

    @field_validator("locale", mode="before")
    @classmethod
    def _one_locale(cls, value: Any) -> Any:
        return [value] if isinstance(value, str | dict) else value

    @model_validator(mode="after")
    def _within_mturk_limits(self) -> Qualifications:
        if len(self.locale) > MAX_IN_VALUES:
            raise _rules_error([("qualifications.locale", f"at most {MAX_IN_VALUES} locales (MTurk's In limit)")])
        if self.requirement_count() > MAX_QUALIFICATION_REQUIREMENTS:
            raise _rules_error(
                [
                    (
                        "qualifications",
                        f"{self.requirement_count()} requirements; "
                        f"MTurk allows at most {MAX_QUALIFICATION_REQUIREMENTS}",
                    )
                ]
            )
        return self

    def requirement_count(self) -> int:
        named = [self.approval_rate is not None, self.approved_count is not None, bool(self.locale), self.masters]
        return sum(named) + len(self.custom)

    def to_mturk(self, marketplace: str) -> list[dict[str, Any]]:
        """MTurk QualificationRequirement dicts; Masters uses the sandbox id on the sandbox."""
        actions = self.actions_guarded
        requirements: list[dict[str, Any]] = []
        if self.approval_rate is not None:
            requirements.append(_integer_requirement(APPROVAL_RATE_QUALIFICATION, self.approval_rate, actions))
        if self.approved_count is not None:
            requirements.append(_integer_requirement(APPROVED_COUNT_QUALIFICATION, self.approved_count, actions))
        if self.locale:
            requirements.append(
                {
                    "QualificationTypeId": LOCALE_QUALIFICATION,
                    "Comparator": "EqualTo" if len(self.locale) == 1 else "In",
                    "LocaleValues": [locale.to_mturk() for locale in self.locale],
                    "ActionsGuarded": actions,
                }
            )
        if self.masters:
            masters_id = MASTERS_QUALIFICATION["sandbox" if marketplace == "sandbox" else "production"]
            requirements.append({"QualificationTypeId": masters_id, "Comparator": "Exists", "ActionsGuarded": actions})
        requirements.extend(custom.to_mturk(actions) for custom in self.custom)
        return requirements


def _integer_requirement(type_id: str, minimum: int, actions: str) -> dict[str, Any]:
    return {
        "QualificationTypeId": type_id,
        "Comparator": "GreaterThanOrEqualTo",
        "IntegerValues": [minimum],
        "ActionsGuarded": actions,
    }


class Workforce(StrictModel):
    """Who works the job: `team` names a private work team (`broker team create NAME`); only its
    members see, preview and accept the HITs. Without it the job goes to the marketplace's crowd."""

    team: str

    @field_validator("team")
    @classmethod
    def _team_name(cls, value: str) -> str:
        if not TEAM_NAME_PATTERN.match(value):
            raise ValueError(
                "a team name: 1-63 letters, digits and hyphens, starting and ending with a letter or digit"
            )
        return value


class ReviewPolicy(StrictModel):
    """How submitted assignments are judged, always before MTurk's auto-approval.

    approve: "all" approves every non-empty answer; "agreement" approves workers whose answers
    agree with the consolidated labels at least `min_agreement` of the time (judged once they have
    `min_answers_to_judge` answers) and rejects the rest; "manual" leaves decisions to the
    requester (`broker review JOB`; MTurk auto-approves what is left after auto_approval_delay).
    Under "agreement", once no more answers are coming (every object settled), workers with fewer
    than `min_answers_to_judge` judged answers are approved rather than left to auto-approval.
    `reject_invalid` rejects answers that fail the task's checks (a box outside the image, a span
    past the text), the check's reason sent to the worker; off by default (they are approved and
    left out of consolidation). A HIT that expires short of answers is extended up to
    `max_extensions` times, within the budget.
    """

    approve: Literal["all", "agreement", "manual"] = "all"
    min_agreement: float = Field(default=0.5, ge=0.0, le=1.0)
    min_answers_to_judge: int = Field(default=5, ge=1)
    reject_empty: bool = True
    reject_invalid: bool = False
    reject_message: str = Field(
        default="Your answers disagreed with the other workers' answers too often.", max_length=1024
    )
    max_extensions: int = Field(default=1, ge=0, le=10, description="times an expired HIT short of answers is extended")


class GoldConfig(StrictModel):
    """Known-answer objects mixed into the work (broker.gold). `manifest` lines carry the answer in
    `label_attribute` (default "gold-label"); the attribute is never rendered to workers."""

    manifest: str = Field(min_length=1)
    rate: float = Field(default=0.1, gt=0.0, lt=1.0, description="share of posted objects that are gold")
    label_attribute: str = Field(default="gold-label", min_length=1)

    @field_validator("manifest")
    @classmethod
    def _resolve(cls, value: str, info: ValidationInfo) -> str:
        return resolve_local(value, (info.context or {}).get("base_dir"))


class ExclusionRule(StrictModel):
    """Exclude a worker whose accuracy (on gold, or EM without gold answers) falls below a threshold
    once they have `min_answers` answers: by qualification (soft) or CreateWorkerBlock (hard)."""

    min_answers: int = Field(default=10, ge=1)
    min_accuracy: float = Field(default=0.6, ge=0.0, le=1.0)
    min_gold_answers: int = Field(default=3, ge=1, description="gold answers needed to judge on gold")
    measure: Literal["auto", "gold", "em"] = "auto"
    action: Literal["qualification", "block"] = "qualification"
    reason: str = Field(
        default="Your accuracy on this task was below the required level.", min_length=1, max_length=1024
    )


class BonusRule(StrictModel):
    """Pay a bonus once to the top workers by EM accuracy (e.g. the top decile)."""

    top_fraction: float = Field(default=0.1, gt=0.0, le=1.0)
    min_answers: int = Field(default=10, ge=1)
    amount: UsdText = Field(default=None, exclude=True)
    amount_cents: int | None = Field(default=None, ge=1)
    reason: str = Field(
        default="Thank you: your work was among the most accurate on this job.", min_length=1, max_length=1024
    )

    @model_validator(mode="after")
    def _amount(self) -> BonusRule:
        if self.amount is not None:
            try:
                self.amount_cents = usd_to_cents(self.amount)
            except MoneyError as error:
                raise ValueError(f"amount: {error}") from error
            self.amount = None
        if self.amount_cents is None or self.amount_cents < 1:
            raise ValueError('amount: required, at least 0.01, e.g. amount: "0.50"')
        return self


class QualificationTest(StrictModel):
    """A test workers take before they may accept: `template` is Liquid that renders MTurk's
    QuestionForm XML (variables: labels, job_name, header); `answer_key` is a YAML mapping of
    QuestionIdentifier -> the right SelectionIdentifier. Score = % of questions right."""

    template: str = Field(min_length=1)
    answer_key: str = Field(min_length=1)
    min_score: int = Field(default=80, ge=0, le=100)
    duration_seconds: Seconds = Field(default=600, ge=MIN_DURATION_SECONDS, le=MAX_DURATION_SECONDS)
    retry_delay_seconds: Seconds | None = Field(default=None, ge=0)

    @field_validator("template", "answer_key")
    @classmethod
    def _resolve(cls, value: str, info: ValidationInfo) -> str:
        return resolve_local(value, (info.context or {}).get("base_dir"))


class QualityConfig(StrictModel):
    """Quality control of a job (broker.stages.quality, broker.gold): gold objects, exclusion and bonus
    rules, a test."""

    gold: GoldConfig | None = None
    qualification_test: QualificationTest | None = None
    exclusion: ExclusionRule | None = None
    bonus: BonusRule | None = None


class LabelCategory(BaseModel):
    model_config = ConfigDict(extra="allow")
    label: str


class LabelCategoryConfig(BaseModel):
    """Ground Truth's label category configuration file (document-version 2018-11-28)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    document_version: str = Field(default=LABEL_CATEGORY_DOCUMENT_VERSION, alias="document-version")
    labels: list[LabelCategory] = Field(min_length=1)


# --------------------------------------------------------------------------------------------
# The job spec


class CustomHooks(BaseModel):
    """The `hooks:` block of a custom job: Ground Truth's pre- and post-annotation Lambdas as Python
    functions, `file.py:function` (relative to the spec) or `package.module:function` (broker.hooks)."""

    model_config = ConfigDict(extra="forbid")

    pre_annotation: str | None = None
    post_annotation: str | None = None

    @field_validator("pre_annotation", "post_annotation")
    @classmethod
    def _reference(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else check_reference(value, (info.context or {}).get("base_dir"))


class AdjustmentConfig(BaseModel):
    """The `adjustment:` block: `label_attribute` names the earlier object-detection output in each
    manifest line (`<attr>` annotations + `<attr>-metadata` class-map) that workers correct."""

    model_config = ConfigDict(extra="forbid")

    label_attribute: str = Field(min_length=1)


NOTIFICATION_EVENTS = (
    "AssignmentAccepted",
    "AssignmentAbandoned",
    "AssignmentReturned",
    "AssignmentSubmitted",
    "AssignmentRejected",
    "AssignmentApproved",
    "HITCreated",
    "HITExpired",
    "HITReviewable",
    "HITExtended",
    "HITDisposed",
)


class NotificationsConfig(StrictModel):
    """Collect from MTurk's event notifications (SQS) instead of polling every collect tick.

    HITReviewable names a HIT whose answers are all in; any other event type makes collect look
    the HIT up (GetHIT) and take it only once it is Reviewable. Every `fallback_seconds` collect
    also polls as before, so a lost message only delays a HIT.
    """

    queue: str
    events: list[str] = Field(default_factory=lambda: ["HITReviewable"], min_length=1)
    fallback_seconds: Seconds = Field(default=300, ge=1, le=MAX_DURATION_SECONDS)

    @field_validator("queue")
    @classmethod
    def _queue(cls, value: str) -> str:
        problem = queue_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        unknown = [event for event in value if event not in NOTIFICATION_EVENTS]
        if unknown:
            raise ValueError(f"unknown event type {unknown[0]!r}; use any of {', '.join(NOTIFICATION_EVENTS)}")
        return list(dict.fromkeys(value))


class JobSpec(StrictModel):
    """A labeling job: what to label, how to ask, who may answer, what it may cost, where it goes."""

    job_name: str
    label_attribute_name: str = ""
    task_type: str
    labels: list[str] = Field(default_factory=list)
    label_category_config: dict[str, Any] | str | None = Field(default=None, exclude=True)
    instructions: Instructions = Field(default_factory=Instructions)
    header: str = ""
    input_manifest: str = ""  # a batch job's data objects (this or `input`)
    input: str | None = None  # a streaming job: sqs://QUEUE, a queue URL, a watched manifest, an s3:// prefix/
    output_queue: str | None = None  # a streaming job: each object's output line, as it is consolidated
    notifications: NotificationsConfig | None = None  # collect from MTurk's SQS event notifications
    output: str = Field(min_length=1)
    workers_per_object: int = Field(default=3, ge=1, le=9)
    reward: UsdText = Field(default=None, exclude=True)
    reward_cents: int | None = Field(default=None, ge=1)
    assignment_duration_seconds: Seconds = Field(default=300, ge=MIN_DURATION_SECONDS, le=MAX_DURATION_SECONDS)
    lifetime_seconds: Seconds = Field(default=21_600, ge=MIN_DURATION_SECONDS, le=MAX_DURATION_SECONDS)
    auto_approval_delay_seconds: Seconds = Field(default=3 * 86_400, ge=0, le=MAX_AUTO_APPROVAL_DELAY_SECONDS)
    max_concurrent_hits: int = Field(default=1000, ge=1, le=5000)
    budget_usd: UsdText = Field(default=None, exclude=True)
    budget_cents: int | None = Field(default=None, ge=1)
    qualifications: Qualifications = Field(default_factory=Qualifications)
    marketplace: str = "local"
    workforce: Workforce | None = None  # a private team; None: the marketplace's crowd
    review_policy: ReviewPolicy = Field(
        default_factory=ReviewPolicy, validation_alias=AliasChoices("review_policy", "review")
    )
    auto_label: AutoLabelConfig | None = None
    quality: QualityConfig | None = None  # gold, exclusion and bonus rules: broker.stages.quality
    verification: VerificationConfig | None = None  # label-verification: broker.verify
    adjustment: AdjustmentConfig | None = None  # bounding-box-adjustment: the boxes to correct
    hooks: CustomHooks | None = None  # custom: pre-/post-annotation functions (broker.hooks)
    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION_CHARS)
    keywords: list[str] = Field(default_factory=list)
    template: str | None = None
    frame_height: int = Field(default=0, ge=0, le=10_000)
    spec_path: str | None = None

    @field_validator("task_type")
    @classmethod
    def _task_type(cls, value: str) -> str:
        if value not in TASK_TYPES:
            raise ValueError(f"must be one of {', '.join(TASK_TYPES)}")
        return value

    @field_validator("job_name")
    @classmethod
    def _job_name(cls, value: str) -> str:
        if not JOB_NAME_PATTERN.match(value):
            raise ValueError("must be 1-63 letters, digits and hyphens, starting and ending with a letter or digit")
        return value

    @field_validator("label_attribute_name")
    @classmethod
    def _label_attribute(cls, value: str) -> str:
        if value == "":
            return value  # defaults to job_name below
        return _check_label_attribute(value)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        return _check_labels(value)

    @field_validator("label_category_config", mode="before")
    @classmethod
    def _read_label_category_file(cls, value: Any, info: ValidationInfo) -> Any:
        """A path (relative to the spec) is read here, so its errors point at this field."""
        if not isinstance(value, str):
            return value
        context = info.context or {}
        uri = resolve_local(value, context.get("base_dir"))
        try:
            text = read_text(uri, settings=context.get("settings"))
        except StorageError as error:
            raise ValueError(str(error)) from error
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{uri}: not JSON: {error.msg} at line {error.lineno}") from error

    @field_validator("input_manifest", "output", "template", "input")
    @classmethod
    def _resolve_paths(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Local paths are made absolute against the spec's folder; s3:// URIs and queues are kept."""
        if not value or value.startswith("sqs://") or is_queue(value):
            return value
        return resolve_local(value, (info.context or {}).get("base_dir"))

    @field_validator("output_queue")
    @classmethod
    def _output_queue(cls, value: str | None) -> str | None:
        problem = queue_problem(value) if value else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("marketplace")
    @classmethod
    def _marketplace(cls, value: str) -> str:
        if value in ("local", "sandbox", "production") or re.match(r"^https?://[^\s/]+", value):
            return value.rstrip("/") if value.startswith("http") else value
        raise ValueError('must be "local", "sandbox", "production" or an endpoint URL (http://host:port)')

    @field_validator("workforce", mode="before")
    @classmethod
    def _workforce_mapping(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, dict):
            raise ValueError("a mapping naming the private team, e.g. workforce: {team: my-team}")
        return value

    @field_validator("keywords", mode="before")
    @classmethod
    def _keywords(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [word.strip() for word in value.split(",") if word.strip()]
        return value

    @model_validator(mode="after")
    def _cross_field_rules(self) -> JobSpec:
        problems: list[tuple[str, str]] = []
        task = self.task
        suffix = task.label_attribute_suffix
        if not self.label_attribute_name:
            try:
                self.label_attribute_name = _check_label_attribute(self.job_name + suffix)
            except ValueError as error:
                problems.append(("label_attribute_name", f"not given, and job_name cannot serve: {error}"))
            if not suffix and self.job_name.endswith("-ref"):
                problems.append(
                    (
                        "job_name",
                        "a name ending in -ref would be the output's label attribute, which only semantic "
                        "segmentation, video and 3D jobs may end in -ref: rename the job or give label_attribute_name",
                    )
                )
        elif suffix and not self.label_attribute_name.endswith(suffix):
            problems.append(("label_attribute_name", f"a {self.task_type} job's label attribute must end in {suffix}"))
        elif not suffix and self.label_attribute_name.endswith("-ref"):
            problems.append(("label_attribute_name", "only semantic segmentation, video and 3D jobs may end in -ref"))
        problems += self._money_rules()
        problems += self._streaming_rules(task)
        problems += self._block_rules(task)
        problems += self._label_rules(task)
        problems += self._auto_label_rules(task)
        if self.workforce is not None and self.qualifications.requirement_count() >= MAX_QUALIFICATION_REQUIREMENTS:
            problems.append(
                (
                    "workforce",
                    f"the team's qualification makes {self.qualifications.requirement_count() + 1} requirements; "
                    f"MTurk allows at most {MAX_QUALIFICATION_REQUIREMENTS}",
                )
            )
        if self.keywords and len(",".join(self.keywords)) > MAX_KEYWORDS_CHARS:
            problems.append(("keywords", f"longer than {MAX_KEYWORDS_CHARS} characters when joined with commas"))
        if problems:
            raise _rules_error(problems)
        return self

    def _streaming_rules(self, task: TaskType) -> list[tuple[str, str]]:
        """A job reads a manifest once (input_manifest) or takes objects as they come (input), not both."""
        if bool(self.input_manifest) == bool(self.input):
            return [("input_manifest", "give input_manifest (a batch job) or input (a streaming job), one of them")]
        problems: list[tuple[str, str]] = []
        if self.input is None:
            if self.output_queue:
                problems.append(("output_queue", "only a streaming job (one with input) sends its outputs to a queue"))
            return problems
        if self.input.startswith("sqs://") and queue_problem(self.input):
            problems.append(("input", queue_problem(self.input) or ""))
        if self.auto_label is not None and self.auto_label.enabled:
            problems.append(("auto_label", "a streaming job cannot auto-label: its data set is never complete"))
        if task.batched:
            problems.append(("input", f"a {self.task_type} job batches objects into HITs; it cannot stream"))
        if self.quality is not None and self.quality.gold is not None:
            problems.append(("quality.gold", "gold objects are mixed into a manifest; a streaming job has none"))
        return problems

    @property
    def streaming(self) -> bool:
        return self.input is not None

    def _money_rules(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        for text_field, cents_field in (("reward", "reward_cents"), ("budget_usd", "budget_cents")):
            text = getattr(self, text_field)
            if text is None:
                continue
            try:
                cents = usd_to_cents(text)
            except MoneyError as error:
                problems.append((text_field, str(error)))
                continue
            if getattr(self, cents_field) is not None and getattr(self, cents_field) != cents:
                problems.append((text_field, f"give {text_field} or {cents_field}, not both"))
            elif cents < 1:
                problems.append((text_field, "must be at least 0.01"))
            else:
                setattr(self, cents_field, cents)
            setattr(self, text_field, None)
        if self.reward_cents is None and not any(field == "reward" for field, _ in problems):
            problems.append(("reward", 'required: the USD paid per assignment, e.g. reward: "0.05"'))
        elif self.reward_cents is not None and self.budget_cents is not None:
            one_object = hit_cost_cents(self.reward_cents, self.workers_per_object, self.qualifications.masters)
            if self.budget_cents < one_object:
                problems.append(
                    (
                        "budget_usd",
                        f"{cents_to_usd(self.budget_cents)} cannot pay for one object: "
                        f"{self.workers_per_object} assignments with MTurk's fees cost {cents_to_usd(one_object)}",
                    )
                )
        return problems

    def _block_rules(self, task: TaskType) -> list[tuple[str, str]]:
        """A block that belongs to another task type is refused; the type's own rules run when its block is there."""
        problems = [
            (block, TASK_BLOCK_OWNERS[block])
            for block in TASK_BLOCKS
            if block != task.block and getattr(self, block) is not None
        ]
        return problems + task.spec_rules(self)

    def _auto_label_rules(self, task: TaskType) -> list[tuple[str, str]]:
        """Automated labeling covers the task types that name their features; the features must fit the data."""
        config = self.auto_label
        if config is None or not config.enabled:
            return []
        if not task.auto_label_features:
            supported = " and ".join(t.id for t in TASK_TYPES.values() if t.auto_label_features)
            return [("auto_label", f"automated labeling supports {supported}, not {self.task_type}")]
        if config.features not in task.auto_label_features:
            allowed = " or ".join(task.auto_label_features)
            return [("auto_label.features", f"{self.task_type} takes features {allowed}, not {config.features}")]
        return []

    def _label_rules(self, task: TaskType) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        config = self.label_category_config
        if config is not None:
            if self.labels:
                problems.append(("label_category_config", "give labels or label_category_config, not both"))
                return problems
            try:
                parsed = LabelCategoryConfig.model_validate(config)
            except ValidationError as error:
                first = error.errors(include_url=False)[0]
                where = ".".join(str(part) for part in first["loc"])
                return [("label_category_config", f"not Ground Truth's label category format: {where}: {first['msg']}")]
            self.labels = [category.label for category in parsed.labels]
            self.label_category_config = None
            try:
                _check_labels(self.labels)
            except ValueError as error:
                return [("label_category_config", str(error))]
        return problems + label_count_rules(task, self.labels)

    # -- derived values used by the engine and templates --------------------------------------

    @property
    def masters(self) -> bool:
        return self.qualifications.masters

    @property
    def keywords_text(self) -> str:
        """MTurk's Keywords field: comma-separated."""
        return ", ".join(self.keywords)

    @property
    def header_text(self) -> str:
        """The question shown above the task; the title when no header is given."""
        return self.header or self.title

    @property
    def task(self) -> TaskType:
        """The task type's record (broker.tasks): element, consolidation, output layout..."""
        return TASK_TYPES[self.task_type]

    @property
    def is_multilabel(self) -> bool:
        return self.task.multilabel

    @property
    def output_type(self) -> str:
        """Ground Truth's metadata `type`."""
        return self.task.output_type

    def qualification_requirements(self) -> list[dict[str, Any]]:
        return self.qualifications.to_mturk(self.marketplace)


def _check_labels(value: list[str]) -> list[str]:
    for label in value:
        if not label.strip():
            raise ValueError("a label may not be empty")
        if len(label) > MAX_LABEL_CHARS:
            raise ValueError(f"label {label[:40]!r}... is longer than {MAX_LABEL_CHARS} characters")
    duplicates = sorted({label for label in value if value.count(label) > 1})
    if duplicates:
        raise ValueError(f"labels must be unique; repeated: {', '.join(duplicates)}")
    return value


def _check_label_attribute(value: str) -> str:
    if not LABEL_ATTRIBUTE_PATTERN.match(value):
        raise ValueError("must be 1-127 letters, digits and hyphens, starting and ending with a letter or digit")
    if value.endswith("-metadata"):
        raise ValueError("may not end in -metadata")
    if value in RESERVED_ATTRIBUTES:
        raise ValueError(f"{value!r} is reserved by the input manifest")
    return value


# --------------------------------------------------------------------------------------------
# Loading


def load_job_spec(path: str | Path, *, settings: Any = None) -> JobSpec:
    """Read and validate a job spec; SpecError lists every problem with file, line and field."""
    spec_file = Path(path)
    name = str(path)
    try:
        text = spec_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([Issue(name, None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError([Issue(name, None, "", f"cannot read: {error}")]) from error
    return parse_job_spec(text, name, base_dir=spec_file.resolve().parent, settings=settings)


def parse_job_spec(text: str, name: str, *, base_dir: Path | None = None, settings: Any = None) -> JobSpec:
    """Validate spec text; `name` is used in error messages and becomes `spec_path`."""
    document = YamlDocument.load(name, text)
    issues = document.duplicate_keys()
    data = document.data
    if not isinstance(data, dict):
        raise SpecError(issues + [Issue(name, document.line_of(()), "", "a job spec is a YAML mapping of fields")])
    if "spec_path" in data:
        issues.append(Issue(name, document.line_of(("spec_path",)), "spec_path", "set by the broker, not the spec"))
    data = {**data, "spec_path": str((base_dir / Path(name).name) if base_dir else name)}
    context = {"base_dir": base_dir, "settings": settings}
    try:
        spec = JobSpec.model_validate(data, context=context)
    except ValidationError as error:
        found = validation_issues(error, document)
        found += _cross_field_issues_despite(error, data, context, document)
        raise SpecError(issues + sorted(found, key=lambda issue: issue.line or 0)) from error
    if issues:
        raise SpecError(issues)
    return spec


# Fields whose cross-field rules depend on each other: when one is invalid, the rules of its
# group are not re-checked (they would only repeat the same mistake).
RELATED_FIELDS = (
    {"labels", "label_category_config", "task_type"},
    {"reward", "reward_cents"},
    {"budget_usd", "budget_cents"},
    {"template", "task_type", "hooks"},
    {"label_attribute_name", "job_name"},
    {"auto_label", "task_type"},
    {"verification", "task_type", "labels", "label_attribute_name"},
    {"adjustment", "task_type", "label_attribute_name"},
)


# (causes, effects): when a cause fails, the effects' rules are not re-checked (the budget check
# prices workers_per_object assignments at the reward, with the Masters fee)
DEPENDENT_FIELDS = (
    ({"reward", "reward_cents", "workers_per_object", "qualifications"}, {"budget_usd", "budget_cents"}),
)
REQUIRED_STAND_INS = {
    "job_name": "stand-in",
    "task_type": "image-classification",
    "input_manifest": "stand-in",
    "output": "stand-in",
    "title": "stand-in",
    "description": "stand-in",
}


def _cross_field_issues_despite(
    error: ValidationError, data: dict[str, Any], context: dict[str, Any], document: YamlDocument
) -> list[Issue]:
    """pydantic skips the cross-field rules when a field fails; run them again without the failed
    fields, so one `broker validate` lists every mistake instead of revealing them one by one."""
    failed = {str(item["loc"][0]) for item in error.errors() if item["loc"]}
    if not failed or any(not item["loc"] for item in error.errors()):
        return []
    skipped = set(failed)
    for group in RELATED_FIELDS:
        if group & failed:
            skipped |= group
    for causes, effects in DEPENDENT_FIELDS:
        if causes & failed:
            skipped |= effects
    # failed required fields get a stand-in, so the rules of the other fields still run
    trimmed = {key: value for key, value in data.items() if key not in failed}
    trimmed |= {key: value for key, value in REQUIRED_STAND_INS.items() if key in failed}
    try:
        JobSpec.model_validate(trimmed, context=context)
    except ValidationError as second:
        return [
            issue for issue in validation_issues(second, document) if re.split(r"[.\[]", issue.field)[0] not in skipped
        ]
    return []
