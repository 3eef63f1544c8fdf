"""Fill any HTML form as a person would (one choice per radio group/select, some boxes, some text).

Used for HITs whose page lacks the `crowd-task-input` contract (a requester's own form), so
third-party HITs can be worked too. The result is the form data set a browser would post,
in document order.
"""

from __future__ import annotations

import numpy as np

from broker.marketplace.crowd.pages import Form, FormField

_WORDS = (
    "yes no maybe looks fine unclear blurry dog cat person car tree house sky red blue green "
    "left right top bottom small large good bad other none"
).split()
_SKIPPED_INPUT_TYPES = {"file", "image", "reset", "button", "submit"}
_TEXT_TYPES = {"text", "search", "tel", "password", ""}


def _text_value(control: FormField, rng: np.random.Generator) -> str:
    kind = control.type
    if kind == "number" or kind == "range":
        return str(int(rng.integers(0, 11)))
    if kind == "email":
        return "worker@example.com"
    if kind == "url":
        return "https://example.com/"
    if kind == "date":
        return "2024-01-01"
    if kind == "color":
        return "#336699"
    count = int(rng.integers(1, 6))
    return " ".join(str(w) for w in rng.choice(_WORDS, size=count))


def fill_form(form: Form, rng: np.random.Generator, fixed: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """The (name, value) pairs a browser would post after a worker filled `form` at random.

    `fixed` overrides values of named controls (e.g. assignmentId, as externalHIT_v1.js sets it).
    """
    fixed = fixed or {}
    enabled = [c for c in form.fields if c.name and not c.disabled]
    radio_choice: dict[str, int] = {}
    checkbox_groups: dict[str, list[int]] = {}
    for index, control in enumerate(enabled):
        if control.tag == "input" and control.type == "radio":
            radio_choice.setdefault(control.name, -1)
        elif control.tag == "input" and control.type == "checkbox":
            checkbox_groups.setdefault(control.name, []).append(index)
    for name in radio_choice:
        members = [i for i, c in enumerate(enabled) if c.type == "radio" and c.name == name and c.tag == "input"]
        radio_choice[name] = members[int(rng.integers(0, len(members)))]
    checked: set[int] = set()
    for members in checkbox_groups.values():
        take = rng.random(len(members)) < 0.5
        if not take.any():
            take[int(rng.integers(0, len(members)))] = True
        checked.update(m for m, t in zip(members, take) if t)

    data: list[tuple[str, str]] = []
    submit_added = False
    for index, control in enumerate(enabled):
        if control.name in fixed:
            if control.type not in ("radio", "checkbox") or index in checked or radio_choice.get(control.name) == index:
                data.append((control.name, fixed[control.name]))
            continue
        if control.tag == "button" or (control.tag == "input" and control.type == "submit"):
            if control.type == "submit" and not submit_added:
                data.append((control.name, control.value))
                submit_added = True
            continue
        if control.tag == "input" and control.type in _SKIPPED_INPUT_TYPES:
            continue
        if control.tag == "input" and control.type == "radio":
            if radio_choice[control.name] == index:
                data.append((control.name, control.value or "on"))
        elif control.tag == "input" and control.type == "checkbox":
            if index in checked:
                data.append((control.name, control.value or "on"))
        elif control.tag == "input" and control.type == "hidden":
            data.append((control.name, control.value))
        elif control.tag == "select":
            data.extend((control.name, value) for value in _select_values(control, rng))
        elif control.tag == "textarea" or control.type in _TEXT_TYPES or control.tag == "input":
            data.append((control.name, _text_value(control, rng)))
    for name, value in fixed.items():
        if not any(existing == name for existing, _ in data):
            data.append((name, value))
    return data


def _select_values(control: FormField, rng: np.random.Generator) -> list[str]:
    values = [value for value, _ in control.options]
    if not values:
        return []
    real = [v for v in values if v != ""] or values
    if control.type == "select-multiple":
        take = rng.random(len(real)) < 0.5
        if not take.any():
            take[int(rng.integers(0, len(real)))] = True
        return [v for v, t in zip(real, take) if t]
    return [real[int(rng.integers(0, len(real)))]]
