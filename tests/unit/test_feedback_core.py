"""Feedback validation: ratings on one scale, known categories, bounded text, a named field in every refusal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from llmops.errors import InvalidArgument
from services.feedback.core import (
    MAX_COMMENT_CHARS,
    Category,
    Interaction,
    rating_from_stars,
    rating_from_thumbs,
    training_example,
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


def interaction(query: str = "How many vacation days?", answer: str = "Twenty-eight [1].") -> Interaction:
    return Interaction(
        "i1", "acme", "ann", "rag-grounded", 3, "small", datetime(2026, 11, 1, tzinfo=UTC), query, answer
    )


def test_a_correction_becomes_the_target_and_a_good_answer_is_kept_as_it_was() -> None:
    corrected = training_example(interaction(), "f1", 0.0, "Twenty-eight days a year [1].", "Be brief.")
    assert corrected is not None
    assert corrected["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "How many vacation days?"},
        {"role": "assistant", "content": "Twenty-eight days a year [1]."},
    ]
    assert corrected["lineage"] == {
        "interaction_id": "i1", "feedback_id": "f1", "kind": "correction", "rating": 0.0,
        "prompt": "rag-grounded@3", "model": "small", "tenant": "acme",
    }  # fmt: skip
    rated = training_example(interaction(), "f2", 0.75, "", "")
    assert rated is not None and rated["messages"][-1]["content"] == "Twenty-eight [1]."  # type: ignore[index]


def test_low_ratings_without_correction_and_interactions_without_text_teach_nothing() -> None:
    assert training_example(interaction(), "f", 0.5, "", "") is None
    assert training_example(interaction(query=""), "f", 1.0, "a fix", "") is None


def test_quality_metrics_summarise_ratings_coverage_and_categories() -> None:
    from services.feedback.core import quality_metrics

    metrics = quality_metrics(10, [(1.0, '["wrong"]', 1), (0.5, "[]", 1), (0.0, '["wrong", "outdated"]', 2)])
    assert metrics["feedback_coverage"] == 0.3 and metrics["mean_rating"] == 0.5
    assert metrics["positive_rate"] == 1 / 3 and metrics["category_wrong_rate"] == 2 / 3
    assert quality_metrics(0, []) == {"interactions": 0.0, "feedback": 0.0}
