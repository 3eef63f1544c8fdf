"""Posted forms read within limits: the body's size and the number of fields are capped before parsing.

MTurk documents no limit on what `externalSubmit` accepts, so the site sets its own
(ANSWER_LIMITS, in the README): large enough for a segmentation mask of a big image in one
`taskAnswers` field, small enough that a page cannot store tens of megabytes per assignment.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import Message

MIB = 1024 * 1024
# An oversized post is still read (and dropped) up to this much, so the browser gets the error page
# instead of a reset connection; beyond it the site stops reading.
DRAIN_LIMIT = 64 * MIB


@dataclass(frozen=True)
class FormLimits:
    max_bytes: int
    max_fields: int


ANSWER_LIMITS = FormLimits(max_bytes=5 * MIB, max_fields=500)  # externalSubmit and QuestionForm answers
SITE_FORM_LIMITS = FormLimits(max_bytes=1 * MIB, max_fields=1000)  # sign-in, accept, profile, qualification tests


class FormRejected(Exception):
    """A post over the limits, or unreadable; `status` and `message` make the error page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _too_large(size: int, limits: FormLimits) -> FormRejected:
    return FormRejected(
        413,
        f"This submission is {size:,} bytes or more; the site accepts at most {limits.max_bytes:,} bytes "
        f"({limits.max_bytes // MIB} MiB) per form.",
    )


async def read_limited(request: Request, limits: FormLimits) -> Request:
    """A Request whose form was read and parsed within `limits` (its handler's `form()` returns it).

    The body is counted as it arrives: past the limit nothing more is kept in memory.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > DRAIN_LIMIT:
        raise _too_large(int(declared), limits)
    body = bytearray()
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limits.max_bytes:
            body.extend(chunk)
        elif size > DRAIN_LIMIT:
            break
    if size > limits.max_bytes:
        raise _too_large(max(size, int(declared) if declared.isdigit() else 0), limits)

    async def replay() -> Message:
        return {"type": "http.request", "body": bytes(body), "more_body": False}

    limited = Request(request.scope, replay)
    try:
        await limited.form(max_files=limits.max_fields, max_fields=limits.max_fields, max_part_size=limits.max_bytes)
    except HTTPException as error:
        raise FormRejected(400, f"This form cannot be accepted: {error.detail}") from error
    except MultiPartException as error:
        raise FormRejected(400, f"This form cannot be accepted: {error.message}") from error
    return limited
