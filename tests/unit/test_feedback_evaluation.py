"""Feedback: golden sets (validation, loading, versions), evaluation metrics, report diff and gate (pure)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pydantic
import pytest

from llmops.cli.sample import sample_documents
from llmops.errors import InvalidArgument
from services.feedback import comparison, evaluation, lexical
from services.feedback.comparison import Direction, Tolerance
from services.feedback.evaluation import CitedSource, Observation
from services.feedback.golden import (
    GoldenItem,
    GoldenSet,
    GoldenSetError,
    load_golden_set,
    parse_golden_set,
    unknown_sources,
)
from services.gateway.core import NO_SOURCES_ANSWER

pytestmark = pytest.mark.unit

SHIPPED = Path(__file__).parents[2] / "services" / "feedback" / "data" / "golden" / "cpython-docs-v1.jsonl"

FOR_TEXT = (
    'The "for" statement is used to iterate over the elements of a sequence. When the iterator is exhausted, the '
    'suite in the "else" clause, if present, is executed, and the loop terminates. A "break" statement executed in '
    'the first suite terminates the loop without executing the "else" clause\'s suite.'
)
DICT_TEXT = (
    "Dictionaries preserve insertion order. Note that updating a key does not affect the order. Keys added after "
    "deletion are inserted at the end. Changed in version 3.7: Dictionary order is guaranteed to be insertion order."
)
FOR, DICT, OTHER = "pydoc://topics/for", "pydoc://topics/typesmapping", "pydoc://topics/lambda"


def raw(**fields: object) -> dict[str, object]:
    return {
        "id": "for-else",
        "question": "When does the else block of a for loop run?",
        "expected_sources": [FOR],
        "reference_answer": "The else clause runs when the iterator is exhausted, unless a break ends the loop.",
        **fields,
    }


def item(**fields: object) -> GoldenItem:
    return GoldenItem.model_validate(raw(**fields))


def line(**fields: object) -> str:
    return json.dumps(raw(**fields))


def problems(text: str) -> tuple[str, ...]:
    with pytest.raises(GoldenSetError) as caught:
        parse_golden_set("test", text)
    return caught.value.problems


# --- golden sets ------------------------------------------------------------------------------------------------


def test_a_valid_file_parses_into_items_in_order() -> None:
    """Items keep file order; blank lines are ignored; optional fields default to empty."""
    text = line() + "\n\n" + line(id="dict-order", question="Do dicts keep order?", expected_sources=[DICT]) + "\n"
    golden = parse_golden_set("test", text)
    assert [i.id for i in golden.items] == ["for-else", "dict-order"]
    assert golden.items[0].must_not_contain == () and golden.items[0].tags == ()
    assert golden.item("dict-order").expected_sources == (DICT,)


def test_the_version_is_a_content_hash_independent_of_order_and_formatting() -> None:
    """Reordering lines or reformatting JSON keeps the version; changing an answer makes a new one."""
    a, b = line(), line(id="other", question="Another question?")
    spaced = json.dumps(json.loads(a), indent=None, separators=(" , ", " : "))
    version = parse_golden_set("x", a + "\n" + b).version
    assert len(version) == 16
    assert parse_golden_set("y", b + "\n" + spaced).version == version
    assert parse_golden_set("x", line(reference_answer="Something else.") + "\n" + b).version != version


def test_a_missing_field_is_named_with_its_line_and_item() -> None:
    """The message says which line, which item and which field."""
    incomplete = raw()
    del incomplete["reference_answer"]
    (problem,) = problems(line(id="first", question="Another?") + "\n" + json.dumps(incomplete))
    assert problem == "line 2 (item 'for-else'): reference_answer: Field required"


def test_an_empty_question_is_rejected() -> None:
    """Whitespace only counts as empty."""
    (problem,) = problems(line(question="   "))
    assert problem == "line 1 (item 'for-else'): question: must not be empty"


def test_duplicate_ids_name_the_first_line() -> None:
    """The second use of an id points back to the first."""
    (problem,) = problems(line() + "\n" + line(question="A different question?"))
    assert problem == "line 2 (item 'for-else'): id: duplicate of line 1"


def test_duplicate_questions_are_rejected() -> None:
    """The same question twice (case and spacing aside) is a copy-paste slip."""
    (problem,) = problems(line() + "\n" + line(id="again", question="when does the ELSE block of a for loop run?"))
    assert "same question as line 1" in problem


def test_bad_json_lines_report_their_line_numbers() -> None:
    """Every bad line is reported, not just the first, and blank lines still count in the numbering."""
    found = problems(line() + "\n\n{not json\n[1, 2]\n")
    assert found[0].startswith("line 3: not valid JSON")
    assert found[1] == "line 4: expected a JSON object, got list"


def test_malformed_fields_are_reported_per_field() -> None:
    """An unknown field, a malformed id, an empty source and a repeated tag each get their own problem."""
    found = problems(line(id="Bad Id", colour="red", expected_sources=[FOR, " "], tags=["a", "a"]))
    assert any(p.startswith("line 1 (item 'Bad Id'): id: must be") for p in found)
    assert any("colour: Extra inputs are not permitted" in p for p in found)
    assert any("expected_sources: source 1 is empty" in p for p in found)
    assert any("tags: tags repeat: ['a']" in p for p in found)


def test_a_string_where_a_list_belongs_is_rejected() -> None:
    """A single source URI must still be a list."""
    (problem,) = problems(line(expected_sources=FOR))
    assert problem.startswith("line 1 (item 'for-else'): expected_sources:")


def test_an_empty_file_has_no_items() -> None:
    """A set without items is an error, not an empty evaluation."""
    assert problems("\n  \n") == ("no items",)


def test_the_error_is_an_invalid_argument_summarising_the_problems() -> None:
    """Callers map it to INVALID_ARGUMENT; the message shows the first problems and counts the rest."""
    text = "\n".join("{" for _ in range(7))
    with pytest.raises(InvalidArgument, match=r"golden set 'test' is invalid: line 1: .*; and 2 more$"):
        parse_golden_set("test", text)


def test_a_golden_set_built_in_code_is_validated_too() -> None:
    """Duplicate ids and empty sets are rejected however the set is made."""
    with pytest.raises(pydantic.ValidationError, match="duplicate ids"):
        GoldenSet(name="x", items=(item(), item()))
    with pytest.raises(pydantic.ValidationError, match="has no items"):
        GoldenSet(name="x", items=())


def test_an_item_without_expected_sources_is_unanswerable() -> None:
    """Empty expected sources mean the right answer is a refusal."""
    assert item().answerable
    assert not item(expected_sources=[]).answerable


def test_load_golden_set_names_the_set_after_its_file(tmp_path: Path) -> None:
    """`cpython-docs-v1.jsonl` is the set `cpython-docs-v1`."""
    path = tmp_path / "mine-v2.jsonl"
    path.write_text(line() + "\n", encoding="utf-8")
    assert load_golden_set(path).name == "mine-v2"


def test_unknown_sources_lists_expected_sources_missing_from_a_dataset() -> None:
    """Only items with missing sources appear."""
    golden = GoldenSet(name="x", items=(item(), item(id="b", question="b?", expected_sources=[FOR, "pydoc://nope"])))
    assert unknown_sources(golden, {FOR}) == {"b": ("pydoc://nope",)}


def test_the_shipped_golden_set_is_valid_and_its_sources_are_in_the_sample_dataset() -> None:
    """About 40 items, some unanswerable, every expected source a document `llmops dev` ingests."""
    golden = load_golden_set(SHIPPED)
    assert golden.name == "cpython-docs-v1"
    assert len(golden.items) >= 40
    assert sum(not i.answerable for i in golden.items) >= 3
    assert unknown_sources(golden, {d.source_uri for d in sample_documents()}) == {}
    assert all(not lexical.violations(i.reference_answer, i.must_not_contain) for i in golden.items)


# --- retrieval ----------------------------------------------------------------------------------------------------


def test_hit_and_reciprocal_rank_count_distinct_documents() -> None:
    """Several chunks of one document take one rank."""
    retrieved = [OTHER, OTHER, OTHER, DICT, FOR]
    assert evaluation.first_relevant_rank(retrieved, [FOR]) == 3
    assert evaluation.hit_at_k(retrieved, [FOR], k=3) == 1.0
    assert evaluation.reciprocal_rank(retrieved, [FOR], k=3) == pytest.approx(1 / 3)


def test_any_expected_document_counts_and_the_first_one_ranks() -> None:
    """With two expected documents, the better-ranked one decides."""
    assert evaluation.reciprocal_rank([DICT, FOR], [FOR, DICT]) == 1.0


def test_retrieval_beyond_k_or_all_wrong_or_empty_scores_zero() -> None:
    """Edge cases: the expected document at k+1, never retrieved, or nothing retrieved."""
    assert evaluation.hit_at_k([OTHER, DICT, FOR], [FOR], k=2) == 0.0
    assert evaluation.reciprocal_rank([OTHER, DICT, FOR], [FOR], k=2) == 0.0
    assert evaluation.hit_at_k([OTHER, DICT], [FOR]) == 0.0
    assert evaluation.first_relevant_rank([], [FOR]) is None
    assert evaluation.reciprocal_rank([], [FOR]) == 0.0


# --- groundedness and citations -----------------------------------------------------------------------------------

SUPPORTED = "The else clause of a for loop is executed when the iterator is exhausted [1]."
UNSUPPORTED = "Python dictionaries were invented by Guido van Rossum on a rainy afternoon [1]."
CITED = (CitedSource(1, FOR, FOR_TEXT), CitedSource(2, DICT, DICT_TEXT))


def test_groundedness_is_the_share_of_supported_sentences() -> None:
    """One sentence the source supports, one it does not."""
    assert evaluation.groundedness(SUPPORTED, CITED[:1]) == 1.0
    assert evaluation.groundedness(UNSUPPORTED, CITED[:1]) == 0.0
    assert evaluation.groundedness(f"{SUPPORTED} {UNSUPPORTED}", CITED[:1]) == 0.5


def test_a_sentence_is_judged_against_the_source_it_cites() -> None:
    """Citing the dictionary topic for a for-loop claim is not support, though another cited source has it."""
    claim = "The else clause of a for loop is executed when the iterator is exhausted [2]."
    assert evaluation.groundedness(claim, CITED) == 0.0
    uncited = "The else clause of a for loop is executed when the iterator is exhausted."
    assert evaluation.groundedness(uncited, CITED) == 1.0  # no marker: any cited source may support it


def test_a_number_the_source_lacks_is_unsupported() -> None:
    """Right words, wrong version."""
    assert evaluation.groundedness("Dictionary order is guaranteed to be insertion order since 3.7 [2].", CITED) == 1
    assert evaluation.groundedness("Dictionary order is guaranteed to be insertion order since 3.5 [2].", CITED) == 0


def test_groundedness_edge_cases() -> None:
    """No citations: nothing supports the answer. Unknown source text, empty answer or only short sentences:
    nothing to judge. Code blocks are not claims."""
    assert evaluation.groundedness(SUPPORTED, ()) == 0.0
    assert evaluation.groundedness(SUPPORTED, (CitedSource(1, FOR),)) is None
    assert evaluation.groundedness("", CITED) is None
    assert evaluation.groundedness("Yes [1].", CITED) is None
    code = f"{SUPPORTED}\n```python\nfor totally in unrelated_words_here(): pass\n```"
    assert evaluation.groundedness(code, CITED) == 1.0


def test_citation_precision_counts_expected_or_supporting_documents() -> None:
    """The dictionary topic is neither expected nor supports the for-loop answer; duplicates count once."""
    cited = (CitedSource(1, FOR, FOR_TEXT), CitedSource(2, FOR, FOR_TEXT), CitedSource(3, DICT, DICT_TEXT))
    assert evaluation.citation_precision(SUPPORTED, cited, [FOR]) == 0.5
    assert evaluation.citation_precision(SUPPORTED, cited, [FOR, DICT]) == 1.0
    assert evaluation.citation_precision(SUPPORTED, cited[:1], []) == 1.0  # unexpected but supporting
    assert evaluation.citation_precision(SUPPORTED, (), [FOR]) is None


# --- answers --------------------------------------------------------------------------------------------------


def test_token_f1_against_the_reference() -> None:
    """Bag-of-words overlap; articles, punctuation, case and citation markers do not count."""
    assert lexical.token_overlap("The Else clause runs [1].", "else clause runs").f1 == 1.0
    assert lexical.token_overlap("lambda functions", "else clause runs").f1 == 0.0
    overlap = lexical.token_overlap("else clause runs when exhausted", "else clause runs")
    assert (overlap.precision, overlap.recall) == (0.6, 1.0)
    assert overlap.f1 == pytest.approx(0.75)
    assert lexical.token_overlap("", "else").f1 == 0.0
    assert lexical.token_overlap("", "").f1 == 1.0


def test_cosine_of_two_vectors() -> None:
    """Parallel 1, orthogonal 0, a zero vector 0, different lengths an error."""
    assert evaluation.cosine([1.0, 2.0], [2.0, 4.0]) == pytest.approx(1.0)
    assert evaluation.cosine([1.0, 0.0], [0.0, 1.0]) == 0.0
    assert evaluation.cosine([0.0, 0.0], [1.0, 1.0]) == 0.0
    with pytest.raises(ValueError, match="differ in length"):
        evaluation.cosine([1.0], [1.0, 2.0])


def test_the_gateway_no_sources_answer_is_copied_exactly() -> None:
    """Services do not import each other, so the copy must track the gateway's constant."""
    assert lexical.NO_SOURCES_ANSWER == NO_SOURCES_ANSWER
    assert lexical.is_refusal(NO_SOURCES_ANSWER)


@pytest.mark.parametrize(
    "answer",
    [
        "I cannot answer from the provided sources.",
        "I can't answer that from the provided sources.",
        "I'm sorry, but the sources don't mention Django at all.",
        "The provided sources do not contain the answer to this question.",
        "This question cannot be answered from the given documents.",
        "There is no information about virtual environments in the sources.",
        "I couldn't find anything about that in the documents [1].",
    ],
)
def test_refusals_are_recognised(answer: str) -> None:
    """The rag prompt's wording and its usual variants."""
    assert lexical.is_refusal(answer)


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "If Python cannot find the module, ImportError is raised [1].",
        "The else clause runs when the loop ends [1]. The sources do not say anything about performance.",
        "Names in a nonlocal statement must refer to bindings that cannot be determined otherwise [1].",
    ],
)
def test_answers_are_not_refusals(answer: str) -> None:
    """An empty answer, a fact about failure, or a gap noted after an answer is not a refusal."""
    assert not lexical.is_refusal(answer)


def test_forbidden_phrases_match_whole_words_whatever_the_case_and_spacing() -> None:
    """`Dictionaries  are\\nunordered` matches; `blueprint statement` does not match `print statement`."""
    phrases = ("dictionaries are unordered", "print statement", "cmp=")
    assert lexical.violations("Dictionaries  are\nUNORDERED.", phrases) == ("dictionaries are unordered",)
    assert lexical.violations("A blueprint statement.", phrases) == ()
    assert lexical.violations("sort(cmp=f)", phrases) == ("cmp=",)


# --- scoring one item ---------------------------------------------------------------------------------------------


def test_score_measures_a_good_answer() -> None:
    """Retrieved first, grounded, cited precisely, close to the reference, no violations."""
    observation = Observation(
        answer="The else clause runs when the iterator is exhausted, unless a break ends the loop [1].",
        citations=CITED[:1],
        retrieved=(FOR, DICT),
        latency_ms=120.0,
        cost_usd=0.001,
        tokens=300,
        answer_embedding=(1.0, 0.0),
        reference_embedding=(1.0, 0.0),
    )
    scored = evaluation.score(item(must_not_contain=["dictionaries are unordered"], tags=["loops"]), observation)
    assert (scored.hit, scored.reciprocal_rank, scored.groundedness, scored.citation_precision) == (1, 1, 1, 1)
    assert scored.answer_f1 == 1.0 and scored.answer_cosine == 1.0
    assert not scored.refused and not scored.error and scored.violations == ()
    assert (scored.latency_ms, scored.cost_usd, scored.tokens, scored.tags) == (120.0, 0.001, 300, ("loops",))


def test_a_refusal_of_an_answerable_question() -> None:
    """Refused; nothing to judge for groundedness or citations; the answer shares little with the reference."""
    scored = evaluation.score(item(), Observation(answer=NO_SOURCES_ANSWER, retrieved=(OTHER,)))
    assert scored.refused and scored.hit == 0.0
    assert scored.groundedness is None and scored.citation_precision is None
    assert scored.answer_f1 is not None and scored.answer_f1 < 0.2


def test_a_failed_ask_scores_as_nothing_retrieved_or_answered() -> None:
    """Errors cost retrieval and similarity instead of disappearing from the averages."""
    failed = Observation(answer="partial", retrieved=(FOR,), citations=CITED, error="DEADLINE_EXCEEDED")
    scored = evaluation.score(item(), failed)
    assert scored.error and (scored.hit, scored.answer_f1, scored.answer_recall) == (0.0, 0.0, 0.0)
    assert scored.groundedness is None and scored.citation_precision is None and not scored.refused


def test_an_unanswerable_item_has_no_retrieval_or_similarity_scores() -> None:
    """Retrieval metrics and reference similarity only apply where documents answer the question."""
    unanswerable = item(expected_sources=[], must_not_contain=["csv.reader"])
    scored = evaluation.score(unanswerable, Observation(answer="Use csv.reader(f) to read rows.", retrieved=(FOR,)))
    assert (scored.hit, scored.reciprocal_rank, scored.answer_f1) == (None, None, None)
    assert scored.violations == ("csv.reader",) and not scored.refused


# --- aggregation ------------------------------------------------------------------------------------------------


def test_percentile_interpolates_between_ranks() -> None:
    """Linear interpolation, as numpy's default; NaN for no values."""
    assert evaluation.percentile([10.0, 20.0, 30.0, 40.0], 50) == 25.0
    assert evaluation.percentile([10.0, 20.0, 30.0, 40.0], 95) == pytest.approx(38.5)
    assert evaluation.percentile([7.0], 95) == 7.0
    assert math.isnan(evaluation.percentile([], 50))


def report() -> evaluation.Report:
    answerable = item(tags=["loops"])
    unanswerable = item(id="csv", question="How do I read a CSV file?", expected_sources=[], tags=["unanswerable"])
    good = Observation(SUPPORTED, CITED[:1], (FOR,), latency_ms=100.0, cost_usd=0.002, tokens=100)
    refused = Observation("I cannot answer from the provided sources.", (), (OTHER,), latency_ms=300.0, tokens=50)
    wrong = Observation(
        UNSUPPORTED, (CitedSource(1, DICT, DICT_TEXT),), (OTHER, DICT), latency_ms=200.0, cost_usd=0.004, tokens=150
    )
    return evaluation.evaluate(
        [
            (answerable, good),
            (answerable.model_copy(update={"id": "b"}), wrong),
            (unanswerable, refused),
            (unanswerable.model_copy(update={"id": "csv2"}), Observation("", error="UNAVAILABLE")),
        ]
    )


def test_aggregate_reports_each_metric_over_the_items_it_applies_to() -> None:
    """Rates over answerable or unanswerable items, means where a value exists, totals and percentiles over all."""
    metrics = report().metrics
    assert metrics["items"] == 4
    assert metrics["hit@5"] == 0.5 and metrics["mrr@5"] == 0.5
    assert metrics["groundedness"] == 0.5  # one grounded and one ungrounded answer; refusal and error not judged
    assert metrics["citation_precision"] == 0.5  # the wrong answer cites a document neither expected nor supporting
    assert metrics["refusal_rate"] == 0.0
    assert metrics["correct_refusal_rate"] == 0.5
    assert metrics["error_rate"] == 0.25
    assert metrics["latency_p50_ms"] == 150.0
    assert metrics["cost_usd_total"] == pytest.approx(0.006)
    assert metrics["cost_usd_mean"] == pytest.approx(0.0015)
    assert metrics["tokens_total"] == 300
    assert "answer_cosine" not in metrics  # no embeddings were passed


def test_reports_are_sliced_by_tag() -> None:
    """Each tag gets the same metrics over its own items."""
    by_tag = report().by_tag
    assert set(by_tag) == {"loops", "unanswerable"}
    assert by_tag["loops"]["items"] == 2 and by_tag["unanswerable"]["correct_refusal_rate"] == 0.5
    assert "hit@5" not in by_tag["unanswerable"]


def test_an_empty_evaluation_reports_only_its_size() -> None:
    """No items, no averages to invent."""
    assert evaluation.aggregate([]) == {"items": 0.0}


def test_k_names_the_retrieval_metrics() -> None:
    """hit@3 when evaluated at k=3."""
    metrics = evaluation.evaluate([(item(), Observation(SUPPORTED, retrieved=(OTHER, DICT, FOR)))], k=3).metrics
    assert metrics["hit@3"] == 1.0 and metrics["mrr@3"] == pytest.approx(1 / 3)


# --- diff and gate ------------------------------------------------------------------------------------------------


def test_direction_of_each_metric() -> None:
    """Quality up is better, latency and cost down; counts have no direction."""
    assert comparison.direction("hit@10") is Direction.HIGHER
    assert comparison.direction("groundedness") is Direction.HIGHER
    assert comparison.direction("latency_p95_ms") is Direction.LOWER
    assert comparison.direction("refusal_rate") is Direction.LOWER
    assert comparison.direction("items") is None


def test_diff_gives_deltas_and_whether_each_improved() -> None:
    """Higher hit rate improved; higher latency got worse; metrics on one side only have NaN deltas."""
    previous = {"hit@5": 0.8, "latency_p95_ms": 900.0, "items": 40.0, "answer_cosine": 0.7}
    current = {"hit@5": 0.9, "latency_p95_ms": 1000.0, "items": 40.0, "groundedness": 0.8}
    deltas = comparison.diff(previous, current)
    assert list(deltas) == ["hit@5", "latency_p95_ms", "items", "groundedness", "answer_cosine"]
    assert deltas["hit@5"].delta == pytest.approx(0.1) and deltas["hit@5"].improved is True
    assert deltas["latency_p95_ms"].delta == 100.0 and deltas["latency_p95_ms"].improved is False
    assert deltas["items"].delta == 0 and deltas["items"].improved is None
    assert math.isnan(deltas["groundedness"].previous) and deltas["groundedness"].improved is None
    assert math.isnan(deltas["answer_cosine"].current) and math.isnan(deltas["answer_cosine"].delta)


PRODUCTION = {"hit@5": 0.90, "groundedness": 0.85, "latency_p95_ms": 1000.0, "error_rate": 0.0}


def test_gate_fails_a_lower_hit_rate_beyond_tolerance() -> None:
    """Lower is worse for a hit rate."""
    (failure,) = comparison.gate({**PRODUCTION, "hit@5": 0.85}, PRODUCTION, {"hit@5": 0.03})
    assert (failure.metric, failure.candidate, failure.production, failure.allowed) == ("hit@5", 0.85, 0.9, 0.03)
    assert failure.direction is Direction.HIGHER
    assert "hit@5: candidate 0.85, production 0.9" in str(failure)


def test_gate_passes_within_tolerance_and_on_improvement() -> None:
    """A drop inside the tolerance, or any gain, passes."""
    assert comparison.gate({**PRODUCTION, "hit@5": 0.88}, PRODUCTION, {"hit@5": 0.03}) == []
    assert comparison.gate({**PRODUCTION, "hit@5": 0.99, "latency_p95_ms": 500.0}, PRODUCTION) == []


def test_gate_fails_higher_latency_beyond_a_relative_tolerance() -> None:
    """Higher is worse for latency; 10% of 1000 ms is allowed, 15% is not."""
    tolerances = {"latency_p95_ms": Tolerance(relative=0.10)}
    assert comparison.gate({**PRODUCTION, "latency_p95_ms": 1100.0}, PRODUCTION, tolerances) == []
    (failure,) = comparison.gate({**PRODUCTION, "latency_p95_ms": 1150.0}, PRODUCTION, tolerances)
    assert failure.direction is Direction.LOWER and failure.allowed == pytest.approx(100.0)


def test_gate_with_zero_tolerance_fails_any_worsening() -> None:
    """One more error than production fails at tolerance 0."""
    (failure,) = comparison.gate({**PRODUCTION, "error_rate": 0.025}, PRODUCTION, {"error_rate": 0.0})
    assert failure.metric == "error_rate"


def test_gate_fails_a_metric_the_candidate_lacks_and_skips_one_production_lacks() -> None:
    """A candidate that stopped producing groundedness fails; a metric without a baseline is not gated."""
    candidate = {k: v for k, v in PRODUCTION.items() if k != "groundedness"} | {"answer_cosine": 0.1}
    (failure,) = comparison.gate(candidate, PRODUCTION, {"groundedness": 0.03, "answer_cosine": 0.0})
    assert failure.metric == "groundedness" and math.isnan(failure.candidate)


def test_gate_rejects_undirected_metrics_and_negative_tolerances() -> None:
    """Gating on `items` or with a negative tolerance is a configuration error."""
    with pytest.raises(ValueError, match="no better direction"):
        comparison.gate(PRODUCTION, PRODUCTION, {"items": 0.0})
    with pytest.raises(ValueError, match="not negative"):
        Tolerance(absolute=-0.1)


def test_gate_checks_every_default_tolerance_on_a_real_report() -> None:
    """The same report passes against itself; a report whose answers all fail does not."""
    good = report().metrics
    assert comparison.gate(good, good) == []
    failed = evaluation.evaluate([(item(), Observation("", error="UNAVAILABLE"))]).metrics
    names = {f.metric for f in comparison.gate(failed, good)}
    assert {"hit@5", "mrr@5", "error_rate"} <= names
