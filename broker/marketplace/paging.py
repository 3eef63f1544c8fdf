"""NextToken/MaxResults paging for every List operation: keyset tokens, stable under inserts."""

from __future__ import annotations

import base64
import binascii
import json
from bisect import bisect_right
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
    size = page_size(params)
    ordered = sorted(items, key=key)
    if params.get("NextToken"):
        after = decode_token(params["NextToken"])
        ordered = [item for item in ordered if tuple(key(item)) > after]
    page = ordered[:size]
    if page:
        return page, {"NextToken": encode_token(key(page[-1]))}
    return page, {}


def page_size(params: dict[str, Any]) -> int:
    size = int(params.get("MaxResults") or DEFAULT_PAGE_SIZE)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValidationFailed(f"MaxResults must be between 1 and {MAX_PAGE_SIZE}, got {size}.")
    return size


def paginate_sorted(
    keys: Sequence[tuple[Any, ...]], keep: Callable[[tuple[Any, ...]], T | None], params: dict[str, Any]
) -> tuple[list[T], dict[str, str]]:
    """paginate() over keys kept in order (an index), reading only as far as the page reaches.

    `keep` gives the item of a key, or None for one the listing leaves out. A listing that follows
    its NextToken through N items then looks at about N keys, not N at every page.
    """
    size = page_size(params)
    start = bisect_right(keys, decode_token(params["NextToken"])) if params.get("NextToken") else 0
    page: list[T] = []
    last: tuple[Any, ...] = ()
    for position in range(start, len(keys)):
        item = keep(keys[position])
        if item is not None:
            page.append(item)
            last = keys[position]
            if len(page) == size:
                break
    if page:
        return page, {"NextToken": encode_token(last)}
    return page, {}
