"""Answer extraction: tag contents (greedy) and the last ``\\boxed{...}``."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rollscore.rewards.tags import (
    has_boxed_after_think,
    has_tag_pair,
    last_boxed_content,
    tag_content,
)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("<answer>a</answer>", "a"),
        ("reasoning first <answer> 42 </answer> and after", " 42 "),
        ("<answer>a</answer> x <answer>b</answer>", "a</answer> x <answer>b"),
        ("<answer><answer>a</answer></answer>", "<answer>a</answer>"),
        ("<answer>\nline 1\nline 2\n</answer>", "\nline 1\nline 2\n"),
        ("<answer></answer>", ""),
        ("<answer>a", None),
        ("a</answer>", None),
        ("</answer>a<answer>", None),
        ("<ANSWER>a</ANSWER>", None),
        ("no tags at all", None),
        ("", None),
    ],
)
def test_tag_content(response, expected):
    assert tag_content(response, "answer") == expected


def test_empty_tag_content_is_an_empty_string_not_none():
    assert tag_content("<answer></answer>", "answer") == ""
    assert has_tag_pair("<answer></answer>", "answer") is True


@pytest.mark.parametrize(
    ("tag", "response", "expected"),
    [
        ("final", "<final>7</final>", "7"),
        ("final", "<answer>7</answer>", None),
        ("a.b", "<a.b>x</a.b>", "x"),
        ("a.b", "<aXb>x</aXb>", None),
        ("x+", "<x+>y</x+>", "y"),
    ],
)
def test_tag_content_with_custom_tags_matches_the_tag_literally(tag, response, expected):
    assert tag_content(response, tag) == expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (r"\boxed{5}", "5"),
        (r"The answer is \boxed{ 7 }.", "7"),
        (r"\boxed{1} first, then \boxed{2}", "2"),
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"\boxed{{a}{b}}", "{a}{b}"),
        (r"\boxed{a}} extra brace", "a"),
        (r"\boxed{}", ""),
        (r"\boxed{1} then \boxed{2", None),
        (r"\boxed{\frac{1}{2}", None),
        (r"\boxed 5", None),
        ("no box here", None),
        ("", None),
    ],
)
def test_last_boxed_content(response, expected):
    assert last_boxed_content(response) == expected


TAGS = ["answer", "think", "a", "x+", "a.b"]
PIECES = st.sampled_from(
    [
        *(f"<{tag}>" for tag in TAGS),
        *(f"</{tag}>" for tag in TAGS),
        "<answer",
        "answer>",
        "</",
        "<",
        ">",
        "/",
        "\\boxed{",
        "{",
        "}",
        "\n",
    ]
)
RESPONSES = st.lists(PIECES | st.text(max_size=3), max_size=40).map("".join)


@settings(max_examples=1000, deadline=None)
@given(RESPONSES, st.sampled_from(TAGS))
def test_tag_extraction_equals_the_greedy_pattern_it_replaces(response, tag):
    escaped = re.escape(tag)
    match = re.search(rf"<{escaped}>([\s\S]*)</{escaped}>", response)

    assert tag_content(response, tag) == (match.group(1) if match else None)
    assert has_tag_pair(response, tag) == (match is not None)


@settings(max_examples=1000, deadline=None)
@given(RESPONSES)
def test_the_geo3k_format_check_equals_the_pattern_it_replaces(response):
    expected = re.search(r"</think>.*\\boxed\{.*\}", response, re.DOTALL) is not None

    assert has_boxed_after_think(response) == expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("</think> so \\boxed{5}", True),
        ("</think>\n\\boxed{\n5\n}", True),
        ("\\boxed{5} </think>", False),
        ("</think> \\boxed{5", False),
        ("</think>}\\boxed{", False),
        ("</think></think>" * 1000 + "\\boxed{", False),
    ],
)
def test_has_boxed_after_think(response, expected):
    assert has_boxed_after_think(response) is expected
