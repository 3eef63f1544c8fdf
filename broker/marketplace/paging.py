"""NextToken/MaxResults paging for every List operation: keyset tokens, stable under inserts."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from broker.marketplace.errors import ValidationFailed

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100


def encode_token(key: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def decode_token(token: str) -> tuple[Any, ...]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise ValidationFailed(
            f"NextToken {token!r} is not a token this marketplace issued.", "AWS.ParameterOutOfRange"
        ) from error
    if not isinstance(key, list):
        raise ValidationFailed(
            f"NextToken {token!r} is not a token this marketplace issued.", "AWS.ParameterOutOfRange"
        )
    return tuple(key)


def paginate(
    items: Sequence[T], key: Callable[[T], tuple[Any, ...]], params: dict[str, Any]
) -> tuple[list[T], dict[str, str]]:
    """One page of `items` in `key` order after the caller's NextToken, and MTurk's NextToken.

    MTurk sends a NextToken with every page that has results, the last one included, and none
    with an empty page: clients loop `while NumResults > 0` on that token (mephisto, Dallinger).
    A keyset token also lets a later call see items added after the last page.
    """
    size = int(params.get("MaxResults") or DEFAULT_PAGE_SIZE)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValidationFailed(f"MaxResults must be between 1 and {MAX_PAGE_SIZE}, got {size}.")
    ordered = sorted(items, key=key)
    if params.get("NextToken"):
        after = decode_token(params["NextToken"])
        ordered = [item for item in ordered if tuple(key(item)) > after]
    page = ordered[:size]
    if page:
        return page, {"NextToken": encode_token(key(page[-1]))}
    return page, {}
