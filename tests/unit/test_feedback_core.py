"""Feedback validation: ratings on one scale, known categories, bounded text, a named field in every refusal."""

from __future__ import annotations

import pytest

from llmops.errors import InvalidArgument
from services.feedback.core import (
    MAX_COMMENT_CHARS,
    Category,
    rating_from_stars,
    rating_from_thumbs,
    validate_submission,
)


def test_ratings_share_one_scale() -> None:
    assert [rating_from_stars(s) for s in range(1, 6)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert (rating_from_thumbs(True), rating_from_thumbs(False)) == (1.0, 0.0)


def test_a_valid_submission_is_normalised() -> None:
    s = validate_submission(" i1 ", 0.5, "stars", ["wrong", "wrong", "outdated"], "  too old ", "")
    assert (s.interaction_id, s.categories, s.comment) == ("i1", (Category.WRONG, Category.OUTDATED), "too old")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("", 1.0, "thumbs", [], "", ""), "interaction_id is empty"),
        (("i", None, "", [], "", ""), "set a rating"),
        (("i", 1.0, "thumbs", ["boring"], "", ""), "categories \\['boring'\\] are not known"),
        (("i", 1.0, "thumbs", [], "x" * (MAX_COMMENT_CHARS + 1), ""), "comment has"),
        (("i", 1.0, "thumbs", [], "", "x" * 20_000), "corrected_answer has"),
    ],
)
def test_bad_submissions_name_the_field(args: tuple[object, ...], needle: str) -> None:
    with pytest.raises(InvalidArgument, match=needle):
        validate_submission(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize("stars", [0, 6, -1])
def test_stars_outside_one_to_five_are_refused(stars: int) -> None:
    with pytest.raises(InvalidArgument, match="stars must be 1 to 5"):
        rating_from_stars(stars)
