"""Reading HIT pages: the crowd-task-input block, and generic filling of any requester's form."""

from __future__ import annotations

import numpy as np

from broker.marketplace.crowd.answers import task_input_from_block
from broker.marketplace.crowd.form_filler import fill_form
from broker.marketplace.crowd.pages import parse_page

from .crowd_helpers import contract_page

THIRD_PARTY_FORM = """
<form method="post" action="https://www.mturk.com/mturk/externalSubmit" id="mturk_form">
  <input type="hidden" name="assignmentId" value="">
  <input type="hidden" name="batch" value="b7">
  <input type="radio" name="sentiment" value="pos"> <input type="radio" name="sentiment" value="neg">
  <input type="radio" name="sure" value="yes"> <input type="radio" name="sure" value="no">
  <select name="topic"><option value="">Choose...</option><option value="sport">Sport</option>\
<option>News</option></select>
  <input type="checkbox" name="flags" value="nsfw"> <input type="checkbox" name="flags" value="spam">
  <input type="checkbox" name="agree">
  <input type="text" name="summary"> <input type="number" name="stars">
  <textarea name="notes">old</textarea>
  <input type="text" name="locked" disabled>
  <input type="file" name="upload">
  <input type="submit" value="Submit">
</form>
"""


def test_task_input_block_is_read_even_with_hostile_manifest_data() -> None:
    source = "</script><script>alert(1)</script> & more"
    page = parse_page(contract_page("crowd-classifier", ["pos", "neg"], {"source": source}, name="sentiment"))
    task = task_input_from_block(page.task_input)
    assert (task.element, task.name, task.labels, task.key) == ("crowd-classifier", "sentiment", ["pos", "neg"], source)
    assert page.form(action_suffix="/mturk/externalSubmit") is not None


def test_generic_filler_posts_what_a_browser_would() -> None:
    form = parse_page(THIRD_PARTY_FORM).forms[0]
    for seed in range(20):
        data = fill_form(form, np.random.default_rng(seed), fixed={"assignmentId": "ASSIGN1"})
        names = [name for name, _ in data]
        values = dict(data)
        assert data[0] == ("assignmentId", "ASSIGN1") and values["batch"] == "b7"
        assert names.count("sentiment") == 1 and values["sentiment"] in ("pos", "neg")
        assert names.count("sure") == 1
        assert values["topic"] in ("sport", "News")
        assert 1 <= names.count("flags") <= 2 and all(v in ("nsfw", "spam") for n, v in data if n == "flags")
        assert values["agree"] == "on"  # a lone checkbox group still gets a tick
        assert values["summary"].strip() and values["notes"].strip() and values["stars"].isdigit()
        assert "locked" not in names and "upload" not in names
        assert names.index("sentiment") < names.index("topic") < names.index("summary")  # document order


def test_select_multiple_and_textarea_parsing() -> None:
    page = parse_page(
        "<form><select name='s' multiple><option value='a' selected>A<option value='b'>B</select>"
        "<textarea name='t'>hi &amp; bye</textarea></form>"
    )
    select, textarea = page.forms[0].fields
    assert select.type == "select-multiple" and select.options == [("a", True), ("b", False)]
    assert textarea.value == "hi & bye"
