"""Label selectors as the API server reads them: the string a WippyApp's selector becomes (what the
runtime pod watches with) and which label sets it matches (how the operator groups entries)."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from wippy.kube.crds import WippyAppSpec
from wippy.kube.selectors import LabelSelector

SELECTOR = LabelSelector.model_validate({
    "matchLabels": {"tier": "web", "example.com/team": "a"},
    "matchExpressions": [{"key": "track", "operator": "In", "values": ["b", "a", "b"]},
                         {"key": "stage", "operator": "NotIn", "values": ["old"]},
                         {"key": "owner", "operator": "Exists"},
                         {"key": "legacy", "operator": "DoesNotExist"}]})


def test_string_form_is_what_label_selector_queries_take():
    assert str(SELECTOR) == "example.com/team=a,tier=web,track in (a,b),stage notin (old),owner,!legacy"
    assert str(LabelSelector()) == ""


@pytest.mark.parametrize("labels, matched", [
    ({"tier": "web", "example.com/team": "a", "track": "a", "owner": "x"}, True),
    ({"tier": "web", "example.com/team": "a", "track": "b", "owner": "x", "stage": "new"}, True),
    ({"tier": "web", "example.com/team": "a", "track": "c", "owner": "x"}, False),   # In
    ({"tier": "web", "example.com/team": "a", "owner": "x"}, False),                 # In needs the label
    ({"tier": "web", "example.com/team": "a", "track": "a", "owner": "x", "stage": "old"}, False),   # NotIn
    ({"tier": "web", "example.com/team": "a", "track": "a"}, False),                 # Exists
    ({"tier": "web", "example.com/team": "a", "track": "a", "owner": "x", "legacy": ""}, False),    # DoesNotExist
    ({"tier": "api", "example.com/team": "a", "track": "a", "owner": "x"}, False),   # matchLabels
])
def test_matches_as_the_api_server_does(labels, matched):
    assert SELECTOR.matches(labels) is matched


def test_empty_selector_matches_everything():
    assert LabelSelector().matches({}) and LabelSelector().matches(None) and LabelSelector().matches({"a": "b"})


@pytest.mark.parametrize("selector, complaint", [
    ({"matchExpressions": [{"key": "a", "operator": "In"}]}, "values must be given for operator In"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, "values must be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]}, "operator"),
    ({"matchLabels": {"a b": "x"}}, "pattern"),
    ({"matchLabels": {"a": "x,y"}}, "pattern"),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["(x)"]}]}, "pattern"),
])
def test_a_selector_that_could_not_be_written_as_a_query_is_refused(selector, complaint):
    with pytest.raises(ValidationError, match=complaint):
        LabelSelector.model_validate(selector)


def test_an_app_without_a_selector_selects_entries_labelled_with_its_name():
    assert str(WippyAppSpec().entry_selector("shop")) == "wippy.ai/app=shop"
    spec = WippyAppSpec.model_validate({"selector": {"matchLabels": {"tier": "web"}}})
    assert str(spec.entry_selector("shop")) == "tier=web"
