"""Qualification requirements: validation of their shape and evaluation against a worker's values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from broker.marketplace.errors import ValidationFailed

PERCENT_APPROVED = "000000000000000000L0"
NUMBER_APPROVED = "00000000000000000040"
LOCALE = "00000000000000000071"
MASTERS = "2F1QJWKUDD8XADTFD2Q0G6UTO95ALH"
MASTERS_SANDBOX = "2ARFPLSP75KLA8M8DH1HTEQVJT3SY6"
MASTERS_IDS = (MASTERS, MASTERS_SANDBOX)
SYSTEM_QUALIFICATIONS = {
    PERCENT_APPROVED: (
        "Worker_PercentAssignmentsApproved",
        "The percentage of assignments the Worker has submitted that were subsequently approved by the Requester, "
        "over all assignments the Worker has submitted.",
    ),
    NUMBER_APPROVED: (
        "Worker_NumberHITsApproved",
        "The total number of HITs submitted by a Worker that have been approved.",
    ),
    LOCALE: ("Worker_Locale", "The location of the Worker, as specified in the Worker's mailing address."),
    MASTERS: ("Masters", "Workers who have demonstrated excellence across a wide range of HITs."),
    MASTERS_SANDBOX: ("Masters (sandbox)", "Masters qualification of the sandbox."),
}
INTEGER_COMPARATORS = {"LessThan", "LessThanOrEqualTo", "GreaterThan", "GreaterThanOrEqualTo", "EqualTo", "NotEqualTo"}
SET_COMPARATORS = {"In", "NotIn"}
PRESENCE_COMPARATORS = {"Exists", "DoesNotExist"}
MAX_REQUIREMENTS = 10
MAX_SET_VALUES = 15
GUARD_LEVELS = {"Accept": 1, "PreviewAndAccept": 2, "DiscoverPreviewAndAccept": 3}
ACTION_LEVELS = {"Accept": 1, "Preview": 2, "Discover": 3}


@dataclass(frozen=True)
class HeldValue:
    """What a worker holds for one qualification type (absent when `exists` is False)."""

    exists: bool
    integer: int | None = None
    country: str | None = None
    subdivision: str | None = None


def guard_of(requirement: dict[str, Any]) -> str:
    """ActionsGuarded, or what the deprecated RequiredToPreview means."""
    if requirement.get("ActionsGuarded"):
        return str(requirement["ActionsGuarded"])
    return "PreviewAndAccept" if requirement.get("RequiredToPreview") else "Accept"


def guards(requirement: dict[str, Any], action: str) -> bool:
    """Does this requirement apply when a worker tries `action` (Discover, Preview, Accept)?"""
    return GUARD_LEVELS[guard_of(requirement)] >= ACTION_LEVELS[action]


def validate_requirements(requirements: list[dict[str, Any]], known_type_ids: set[str]) -> None:
    """MTurk's rules on the shape of QualificationRequirements, with the offending index named."""
    if len(requirements) > MAX_REQUIREMENTS:
        raise ValidationFailed(
            f"A HIT may have at most {MAX_REQUIREMENTS} QualificationRequirements, got {len(requirements)}."
        )
    for index, requirement in enumerate(requirements, start=1):
        where = f"QualificationRequirements.{index}"
        type_id = requirement["QualificationTypeId"]
        comparator = requirement["Comparator"]
        integers = requirement.get("IntegerValues") or []
        locales = requirement.get("LocaleValues") or []
        if type_id not in known_type_ids:
            raise ValidationFailed(
                f"{where}: QualificationTypeId {type_id} does not exist.",
                "AWS.MechanicalTurk.QualificationTypeDoesNotExist",
            )
        if integers and locales:
            raise ValidationFailed(f"{where}: give IntegerValues or LocaleValues, not both.")
        if type_id == LOCALE and integers:
            raise ValidationFailed(f"{where}: the locale qualification takes LocaleValues, not IntegerValues.")
        if type_id != LOCALE and locales:
            raise ValidationFailed(f"{where}: LocaleValues are only valid for the locale qualification {LOCALE}.")
        values = integers or locales
        if comparator in PRESENCE_COMPARATORS:
            if values:
                raise ValidationFailed(f"{where}: comparator {comparator} takes no values.")
        elif comparator in SET_COMPARATORS:
            if not 1 <= len(values) <= MAX_SET_VALUES:
                raise ValidationFailed(
                    f"{where}: comparator {comparator} takes 1 to {MAX_SET_VALUES} values, got {len(values)}."
                )
        elif comparator in INTEGER_COMPARATORS:
            if len(values) != 1:
                raise ValidationFailed(f"{where}: comparator {comparator} takes exactly one value, got {len(values)}.")
            if type_id == LOCALE and comparator not in ("EqualTo", "NotEqualTo"):
                raise ValidationFailed(
                    f"{where}: the locale qualification supports "
                    "EqualTo, NotEqualTo, In, NotIn, Exists and DoesNotExist."
                )
        for locale in locales:
            if len(locale.get("Country", "")) != 2:
                raise ValidationFailed(f"{where}: LocaleValues Country must be an ISO 3166 two-letter code.")


def _locale_matches(held: HeldValue, locale: dict[str, Any]) -> bool:
    if held.country != locale.get("Country"):
        return False
    wanted_subdivision = locale.get("Subdivision")
    return wanted_subdivision is None or wanted_subdivision == held.subdivision


def requirement_met(requirement: dict[str, Any], held: HeldValue) -> bool:
    """MTurk's comparison of one requirement with what the worker holds."""
    comparator = requirement["Comparator"]
    if comparator == "DoesNotExist":
        return not held.exists
    if not held.exists:
        return False
    if comparator == "Exists":
        return True
    locales = requirement.get("LocaleValues") or []
    if locales:
        matches = any(_locale_matches(held, locale) for locale in locales)
        return not matches if comparator in ("NotEqualTo", "NotIn") else matches
    integers = [int(value) for value in requirement.get("IntegerValues") or []]
    if held.integer is None:
        return False
    value = held.integer
    if comparator == "In":
        return value in integers
    if comparator == "NotIn":
        return value not in integers
    target = integers[0]
    return {
        "LessThan": value < target,
        "LessThanOrEqualTo": value <= target,
        "GreaterThan": value > target,
        "GreaterThanOrEqualTo": value >= target,
        "EqualTo": value == target,
        "NotEqualTo": value != target,
    }[comparator]


def describe_values(requirement: dict[str, Any]) -> str:
    """The requirement's values as a worker reads them: '95', '1, 2', 'US, CA-ON'."""
    locales = requirement.get("LocaleValues") or []
    if locales:
        return ", ".join(
            locale["Country"] + (f"-{locale['Subdivision']}" if locale.get("Subdivision") else "") for locale in locales
        )
    return ", ".join(str(value) for value in requirement.get("IntegerValues") or [])


def requires_masters(requirements: list[dict[str, Any]]) -> bool:
    return any(
        requirement["QualificationTypeId"] in MASTERS_IDS and requirement["Comparator"] != "DoesNotExist"
        for requirement in requirements
    )
