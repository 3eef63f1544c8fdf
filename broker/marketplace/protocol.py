"""The JSON 1.1 wire protocol of MTurk's requester API, driven by botocore's own service model.

Parses `X-Amz-Target: MTurkRequesterServiceV20170117.<Op>` requests, validates the body against
the operation's input shape (types, required members, lengths, ranges, patterns, enums) and
converts it to Python values; serialises responses and errors as AWS JSON services do.
No business rules here.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from broker.marketplace.errors import MarketplaceError, WireError

CONTENT_TYPE = "application/x-amz-json-1.1"


@lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("mturk")


def target_prefix() -> str:
    return service_model().metadata["targetPrefix"]


class ParameterError(MarketplaceError):
    """A request member breaks the service model (missing, wrong type, limit, pattern, enum)."""

    def __init__(self, code: str, path: str, detail: str) -> None:
        super().__init__(code, f"1 validation error detected: Value at '{path}' {detail}")
        self.path = path


@dataclass(frozen=True)
class ParsedRequest:
    operation: str
    params: dict[str, Any]


def operation_from_target(target: str | None) -> OperationModel:
    """The operation an X-Amz-Target names; AWS's UnknownOperationException otherwise."""
    prefix = target_prefix() + "."
    if not target or not target.startswith(prefix):
        raise WireError("UnknownOperationException", f"Unknown operation: X-Amz-Target {target!r}.")
    name = target[len(prefix) :]
    if name not in service_model().operation_names:
        raise WireError("UnknownOperationException", f"Unknown operation {name!r}.")
    return service_model().operation_model(name)


def parse_request(target: str | None, body: bytes) -> ParsedRequest:
    """Validate and convert one request; raises WireError (framing) or ParameterError (members)."""
    operation = operation_from_target(target)
    try:
        document = json.loads(body.decode("utf-8")) if body.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WireError("SerializationException", f"The request body is not valid JSON: {error}.") from error
    if not isinstance(document, dict):
        raise WireError("SerializationException", "The request body must be a JSON object.")
    shape = operation.input_shape
    params = _convert(shape, document, "") if shape is not None else {}
    return ParsedRequest(operation.name, params)


def _fail(path: str, detail: str, code: str = "AWS.ParameterOutOfRange") -> ParameterError:
    return ParameterError(code, path or "request", detail)


def _join(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


def _convert(shape: Shape, value: Any, path: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return _convert_structure(shape, value, path)
    if kind == "list":
        if not isinstance(value, list):
            raise _fail(path, f"must be a list, got {type(value).__name__}.", "AWS.ValidationError")
        _check_length(shape, len(value), path, "list length")
        return [_convert(shape.member, item, f"{path}.{index}") for index, item in enumerate(value, start=1)]
    if kind == "map":
        if not isinstance(value, dict):
            raise _fail(path, f"must be an object, got {type(value).__name__}.", "AWS.ValidationError")
        return {key: _convert(shape.value, item, _join(path, key)) for key, item in value.items()}
    if kind == "string":
        return _convert_string(shape, value, path)
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, f"must be an integer, got {value!r}.", "AWS.ValidationError")
        _check_range(shape, value, path)
        return value
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(path, f"must be a number, got {value!r}.", "AWS.ValidationError")
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _fail(path, f"must be true or false, got {value!r}.", "AWS.ValidationError")
        return value
    if kind == "timestamp":
        return _convert_timestamp(value, path)
    if kind == "blob":
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError) as error:
            raise _fail(path, "must be base64.", "AWS.ValidationError") from error
    raise _fail(path, f"has an unsupported type {kind}.", "AWS.ValidationError")


def _convert_structure(shape: Shape, value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, f"must be an object, got {type(value).__name__}.", "AWS.ValidationError")
    members = shape.members
    unknown = sorted(set(value) - set(members))
    if unknown:
        raise _fail(
            _join(path, unknown[0]),
            f"is not a member of {shape.name}; valid members: {', '.join(members)}.",
            "AWS.ValidationError",
        )
    for required in shape.required_members:
        if value.get(required) is None:
            raise _fail(
                _join(path, required), "failed to satisfy constraint: Member must not be null.", "AWS.MissingParameters"
            )
    return {name: _convert(members[name], item, _join(path, name)) for name, item in value.items() if item is not None}


def _convert_string(shape: Shape, value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"must be a string, got {value!r}.", "AWS.ValidationError")
    _check_length(shape, len(value), path, "length")
    if shape.enum and value not in shape.enum:
        raise _fail(
            path,
            f"failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(shape.enum)}] "
            f"(got '{value}').",
        )
    pattern = shape.metadata.get("pattern")
    if pattern and not re.search(pattern, value):
        raise _fail(
            path,
            f"failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern} (got '{value}').",
        )
    return value


def _check_length(shape: Shape, length: int, path: str, what: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and length < low:
        raise _fail(path, f"failed to satisfy constraint: Member must have {what} greater than or equal to {low}.")
    if high is not None and length > high:
        raise _fail(path, f"failed to satisfy constraint: Member must have {what} less than or equal to {high}.")


def _check_range(shape: Shape, value: int, path: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        raise _fail(
            path, f"failed to satisfy constraint: Member must have value greater than or equal to {low} (got {value})."
        )
    if high is not None and value > high:
        raise _fail(
            path, f"failed to satisfy constraint: Member must have value less than or equal to {high} (got {value})."
        )


def _convert_timestamp(value: Any, path: str) -> datetime:
    if isinstance(value, bool):
        raise _fail(path, f"must be a timestamp, got {value!r}.", "AWS.ValidationError")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as error:
            raise _fail(path, f"must be a timestamp, got {value!r}.", "AWS.ValidationError") from error
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise _fail(path, f"must be a timestamp, got {value!r}.", "AWS.ValidationError")


def to_wire(value: Any) -> Any:
    """Response value -> JSON: datetimes as epoch seconds (what botocore parses), None dropped."""
    if isinstance(value, datetime):
        return round(value.timestamp(), 3)
    if isinstance(value, dict):
        return {key: to_wire(item) for key, item in value.items() if item is not None}
    if isinstance(value, (list, tuple)):
        return [to_wire(item) for item in value]
    return value


class JsonText(str):
    """A text whose JSON form is made once: a HIT's Question (tens of KB) goes out again with every
    listing of the HIT, and encoding it is most of a listing's cost."""

    @cached_property
    def encoded(self) -> bytes:
        return _dumps(str(self))


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")  # ASCII: json.dumps escapes the rest


def _holds_json_text(value: Any) -> bool:
    if isinstance(value, JsonText):
        return True
    if isinstance(value, dict):
        return any(_holds_json_text(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_json_text(item) for item in value)
    return False


def _encode(value: Any, out: list[bytes]) -> None:
    """Append json.dumps(value) (compact) to `out` in pieces, each JsonText as its JSON form made once;
    joined, the same bytes, copied once."""
    if isinstance(value, JsonText):
        out.append(value.encoded)
    elif isinstance(value, list) and _holds_json_text(value):
        out.append(b"[")
        for position, item in enumerate(value):
            if position:
                out.append(b",")
            _encode(item, out)
        out.append(b"]")
    elif isinstance(value, dict) and _holds_json_text(value):
        out.append(b"{")
        plain: dict[str, Any] = {}  # a run of members without JsonText: encoded together, in order
        members = 0
        for key, item in value.items():
            if not _holds_json_text(item):
                plain[key] = item
                continue
            if plain:
                out.append(b"," + _dumps(plain)[1:-1] if members else _dumps(plain)[1:-1])
                members, plain = members + 1, {}
            out.append(b"," + _dumps(key) + b":" if members else _dumps(key) + b":")
            _encode(item, out)
            members += 1
        if plain:
            out.append(b"," + _dumps(plain)[1:-1] if members else _dumps(plain)[1:-1])
        out.append(b"}")
    else:
        out.append(_dumps(value))


def response_body(result: dict[str, Any]) -> bytes:
    out: list[bytes] = []
    _encode(to_wire(result), out)
    return b"".join(out)


def stamped(message: str, moment: datetime) -> str:
    """MTurk ends each error message with the server's time in epoch milliseconds.

    e.g. 'Hit 3PR3LXCWSFNV4OJWZBHIMQOIJVSX9G does not exist. (1624047673969)'.
    """
    return f"{message} ({int(moment.timestamp() * 1000)})"


def error_body(error_type: str, message: str, turk_error_code: str | None = None) -> bytes:
    """AWS JSON error document; MTurk's errors carry TurkErrorCode beside Message."""
    document: dict[str, Any] = {"__type": error_type, "Message": message}
    if turk_error_code is not None:
        document["TurkErrorCode"] = turk_error_code
    else:
        document["message"] = message
    return json.dumps(document).encode("utf-8")


def error_headers(error_type: str) -> dict[str, str]:
    return {"x-amzn-ErrorType": error_type, "x-amzn-RequestId": new_request_id()}


def new_request_id() -> str:
    return str(uuid.uuid4())
