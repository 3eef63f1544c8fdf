"""Errors of the marketplace, shaped like MTurk's (`RequestError` / `ServiceFault` + TurkErrorCode)."""

from __future__ import annotations


class MarketplaceError(Exception):
    """Base: `.code` is MTurk's TurkErrorCode, `.message` the text a requester or worker sees."""

    error_type = "RequestError"
    http_status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class RequestError(MarketplaceError):
    """The caller's request cannot be honoured (MTurk's RequestError)."""


class ServiceFault(MarketplaceError):
    """The marketplace itself failed (MTurk's ServiceFault)."""

    error_type = "ServiceFault"
    http_status = 500


# The kinds of entity MTurk names in its not-found codes: AWS.MechanicalTurk.<kind>DoesNotExist.
NOT_FOUND_KINDS = frozenset(
    {"HIT", "HITType", "Assignment", "QualificationType", "Qualification", "QualificationRequest", "Worker"}
)


class NotFound(RequestError):
    """A missing entity, with MTurk's code for its kind (e.g. `AWS.MechanicalTurk.HITDoesNotExist`).

    Clients branch on these codes (and on the messages' wording), so both follow MTurk's.
    """

    def __init__(self, kind: str, message: str) -> None:
        if kind not in NOT_FOUND_KINDS:
            raise ValueError(f"unknown entity kind {kind!r}")
        super().__init__(f"AWS.MechanicalTurk.{kind}DoesNotExist", message)
        self.kind = kind


class InvalidState(RequestError):
    """An operation that the entity's current state does not allow."""


class ValidationFailed(RequestError):
    """A parameter breaks a limit or pattern of the API."""

    def __init__(self, message: str, code: str = "AWS.ParameterOutOfRange") -> None:
        super().__init__(code, message)


class NotQualified(RequestError):
    """A worker does not meet a HIT's qualification requirements (or is blocked)."""

    def __init__(self, message: str) -> None:
        super().__init__("AWS.MechanicalTurk.QualificationRequirementsNotMet", message)


class InsufficientFunds(RequestError):
    def __init__(self, needed_cents: int, available_cents: int) -> None:
        super().__init__(
            "AWS.MechanicalTurk.InsufficientFunds",
            f"This Requester has insufficient funds in their account to complete this transaction: "
            f"needed ${needed_cents / 100:.2f}, available ${available_cents / 100:.2f}.",
        )


class WireError(Exception):
    """A front-end (protocol or auth) error that AWS endpoints answer before MTurk sees the call."""

    def __init__(self, error_type: str, message: str, http_status: int = 400) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.http_status = http_status
