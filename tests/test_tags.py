"""Answer extraction: tag contents (greedy) and the last ``\\boxed{...}``."""

from __future__ import annotations

import pytest

from rewards.tags import has_tag_pair, last_boxed_content, tag_content


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
