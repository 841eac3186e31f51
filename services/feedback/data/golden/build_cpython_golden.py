"""Builds `cpython-docs-v1.jsonl`, the golden set over the sample dataset (CPython's `pydoc_data.topics`).

The questions, reference answers and must-not-contain phrases are written by hand, each with an *anchor*: a
sentence quoted from the topic that answers it. The builder finds every sample document containing the anchor (the
same passage often sits in a statement's own topic and in `compound`), makes those the expected sources, checks
that each reference sentence is supported by them (the evaluation's own lexical test), and that the unanswerable
questions' subjects appear in no document. Usage, from the repository root:

    .venv/bin/python services/feedback/data/golden/build_cpython_golden.py [--check]

`--check` exits 1 when the checked-in file differs from what the builder makes now.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from llmops.cli.sample import sample_documents
from services.feedback import lexical
from services.feedback.golden import parse_golden_set

OUT = Path(__file__).with_name("cpython-docs-v1.jsonl")
TOPIC = "pydoc://topics/"


@dataclass(frozen=True)
class Spec:
    """One hand-written item: `anchor` is quoted from `topic`, and `also` quotes other passages that answer it in
    other words; every document containing one of them is an expected source. An item without topic is
    unanswerable, and none of `absent` may occur in any document."""

    id: str
    question: str
    reference: str
    topic: str = ""
    anchor: str = ""
    also: tuple[str, ...] = ()
    must_not: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()


SPECS = (
    Spec(
        "for-else-clause",
        "When does the else block attached to a for loop actually run?",
        "The else clause runs when the iterator is exhausted and the loop terminates. A break statement terminates "
        "the loop without executing the else clause.",
        "for",
        'When the iterator is exhausted, the suite in the "else" clause, if present, is executed',
        also=('It terminates the nearest enclosing loop, skipping the optional "else" clause if the loop has one.',),
        tags=("statements", "loops"),
    ),
    Spec(
        "break-runs-finally",
        "If I break out of a loop from inside a try block, does the finally block still run?",
        "Yes. When break passes control out of a try statement with a finally clause, that finally clause is "
        "executed before really leaving the loop.",
        "break",
        'When "break" passes control out of a "try" statement with a "finally" clause, that "finally" clause is '
        "executed before really leaving the loop.",
        tags=("statements", "loops", "exceptions"),
    ),
    Spec(
        "return-in-finally-wins",
        "A function returns one value in its try block and another in its finally block. Which one do I get?",
        "The value returned in the finally clause. The return value of a function is determined by the last return "
        "statement executed, and since the finally clause always executes, its return is the last one executed.",
        "try",
        'a "return" statement executed in the "finally" clause will always be the last one executed',
        tags=("statements", "exceptions"),
    ),
    Spec(
        "try-else-clause",
        "What is the point of an else clause on a try statement, and when does it run?",
        "The else clause is executed if control flow leaves the try suite, no exception was raised, and no return, "
        "continue or break statement was executed. Exceptions in the else clause are not handled by the preceding "
        "except clauses.",
        "try",
        'The optional "else" clause is executed if the control flow leaves the "try" suite, no exception was '
        'raised, and no "return", "continue", or "break" statement was executed.',
        tags=("statements", "exceptions"),
    ),
    Spec(
        "except-star-groups",
        "How do I catch just the OSErrors inside an ExceptionGroup and let the rest propagate?",
        "Use an except* OSError clause. except* clauses handle exception groups with partial matches: each clause "
        "handles an exception group of all matching exceptions, and remaining exceptions that were not handled are "
        "re-raised at the end, combined into an exception group.",
        "try",
        'The "except*" clause(s) are used for handling "ExceptionGroup"s.',
        tags=("statements", "exceptions"),
    ),
    Spec(
        "raise-from-none",
        "How can I raise a new exception inside an except block without the original one showing up in the traceback?",
        "Raise it with from None, as in raise RuntimeError(...) from None: specifying None in the from clause "
        "explicitly suppresses exception chaining.",
        "raise",
        'Exception chaining can be explicitly suppressed by specifying "None" in the "from" clause',
        tags=("statements", "exceptions"),
    ),
    Spec(
        "assert-under-optimize",
        "Are my assert statements still checked when I run Python with -O?",
        "No. When optimization is requested with the -O command line option, __debug__ is False and the code "
        "generator emits no code for an assert statement.",
        "assert",
        "The current code generator emits no code for an assert statement when optimization is requested at "
        "compile time.",
        tags=("statements",),
    ),
    Spec(
        "augmented-assignment-in-place",
        "Is x += y exactly the same thing as x = x + y?",
        "Not exactly. In the augmented version x is only evaluated once, and when possible the operation is "
        "performed in-place: the old object is modified instead of creating a new object.",
        "augassign",
        'An augmented assignment expression like "x += 1" can be rewritten as "x = x + 1" to achieve a similar, but '
        "not exactly equal effect.",
        tags=("statements", "operators"),
    ),
    Spec(
        "starred-assignment-target",
        "In first, *rest = items, what ends up in rest?",
        "A list of the remaining items of the iterable after the targets before the starred target are assigned; "
        "the list can be empty.",
        "assignment",
        "A list of the remaining items in the iterable is then assigned to the starred target (the list can be empty).",
        tags=("statements",),
    ),
    Spec(
        "global-to-assign",
        "Why can my function read a module-level variable but not assign to it unless I use global?",
        "It would be impossible to assign to a global variable without the global statement, although free "
        "variables may refer to globals without being declared global.",
        "global",
        'It would be impossible to assign to a global variable without "global", although free variables may refer '
        "to globals without being declared global.",
        tags=("statements", "scopes"),
    ),
    Spec(
        "nonlocal-needs-binding",
        "Can I use nonlocal to create a brand-new variable in the enclosing function?",
        "No. Names listed in a nonlocal statement must refer to pre-existing bindings in an enclosing scope; "
        "globals are excluded.",
        "nonlocal",
        "must refer to pre-existing bindings in an enclosing scope",
        tags=("statements", "scopes"),
    ),
    Spec(
        "unbound-local-error",
        "Why do I get UnboundLocalError when my function reads a variable and assigns to it a few lines later?",
        "If a name binding operation occurs anywhere within a code block, all uses of the name within the block "
        "are treated as references to the current block. If the local variable has not yet been bound to a value at "
        "the point where the name is used, an UnboundLocalError exception is raised.",
        "naming",
        "If a name binding operation occurs anywhere within a code block, all uses of the name within the block are "
        "treated as references to the current block.",
        tags=("scopes", "errors"),
    ),
    Spec(
        "mutable-default-argument",
        "Why does a function with a default list argument keep remembering items from earlier calls?",
        "Default parameter values are evaluated once, when the function definition is executed, so the same list "
        "is used for each call and modifying it modifies the default. Use None as the default and explicitly test "
        "for it in the body of the function.",
        "function",
        "Default parameter values are evaluated from left to right when the function definition is executed.",
        tags=("functions",),
    ),
    Spec(
        "lambda-body",
        "Can I put an assignment or other statements inside a lambda?",
        "No. A lambda yields a function object whose body is a single expression; functions created with lambda "
        "expressions cannot contain statements or annotations.",
        "lambda",
        "Note that functions created with lambda expressions cannot contain statements or annotations.",
        tags=("functions", "expressions"),
    ),
    Spec(
        "generator-return-value",
        "What happens to the value I return from inside a generator function?",
        "The return statement indicates that the generator is done and causes StopIteration to be raised. The "
        "returned value becomes the StopIteration.value attribute.",
        "return",
        'The returned value (if any) is used as an argument to construct "StopIteration" and becomes the '
        '"StopIteration.value" attribute.',
        tags=("functions", "generators"),
    ),
    Spec(
        "class-attributes-shared",
        "If I define a list in a class body, does every instance get its own copy?",
        "No. Variables defined in the class definition are class attributes shared by instances, so using mutable "
        "values there can lead to unexpected results. Instance attributes can be set in a method with "
        "self.name = value.",
        "class",
        "Variables defined in the class definition are class attributes; they are shared by instances.",
        tags=("classes",),
    ),
    Spec(
        "eq-without-hash",
        "I added __eq__ to my class and now its instances cannot go into a set. Why?",
        "A class that overrides __eq__ and does not define __hash__ will have its __hash__ implicitly set to None, "
        "so its instances raise TypeError when hashed. To keep the parent's hash, set __hash__ = "
        "ParentClass.__hash__.",
        "customization",
        'A class that overrides "__eq__()" and does not define "__hash__()" will have its "__hash__()" implicitly '
        'set to "None".',
        tags=("classes", "special-methods"),
    ),
    Spec(
        "getattr-vs-getattribute",
        "What is the difference between __getattr__ and __getattribute__?",
        "__getattribute__ is called unconditionally to implement attribute accesses. __getattr__ is called only "
        "when the default attribute access fails with an AttributeError.",
        "attribute-access",
        'Called when the default attribute access fails with an "AttributeError"',
        tags=("classes", "special-methods"),
    ),
    Spec(
        "exit-suppresses-exception",
        "How can a context manager swallow an exception raised inside its with block?",
        "Its __exit__ method returns a true value: if an exception is supplied and the method wishes to suppress "
        "it, it should return a true value, otherwise the exception is processed normally. __exit__ should not "
        "reraise the passed-in exception.",
        "context-managers",
        "If an exception is supplied, and the method wishes to suppress the exception (i.e., prevent it from being "
        "propagated), it should return a true value.",
        also=(
            "If the return value was true, the exception is suppressed, and execution continues with the statement "
            'following the "with" statement.',
        ),
        tags=("special-methods", "statements"),
    ),
    Spec(
        "with-several-managers",
        "Can one with statement open two files at once?",
        "Yes. With more than one item, as in with A() as a, B() as b:, the context managers are processed as if "
        "multiple with statements were nested.",
        "with",
        'With more than one item, the context managers are processed as if multiple "with" statements were nested',
        tags=("statements",),
    ),
    Spec(
        "reflected-operators",
        "When does Python call __radd__ on the right operand instead of __add__?",
        "The reflected (swapped) methods are only called if the left operand does not support the corresponding "
        "operation and the operands are of different types, for instance when the left operand's method returns "
        "NotImplemented.",
        "numeric-types",
        "These functions are only called if the left operand does not support the corresponding operation",
        tags=("special-methods", "operators"),
    ),
    Spec(
        "nan-not-equal",
        "Why is float('nan') == float('nan') False?",
        "Not-a-number values are not equal to themselves: any ordered comparison of a number to a not-a-number value "
        "is false, and x == x is false while x != x is true. This behavior is compliant with IEEE 754.",
        "comparisons",
        "A counter-intuitive implication is that not-a-number values are not equal to themselves.",
        tags=("operators", "numbers"),
    ),
    Spec(
        "compare-none-with-is",
        "Should I test for None with == or with is?",
        "Use is or is not. None is a singleton, and PEP 8 advises that comparisons for singletons should always be "
        "done with is or is not, never the equality operators.",
        "comparisons",
        'comparisons for singletons should always be done with "is" or "is not", never the equality operators.',
        tags=("operators",),
    ),
    Spec(
        "and-or-return-operands",
        "Does x or y always give back True or False?",
        "No. Neither and nor or restrict the value they return to False and True; they return the last evaluated "
        "argument, so s or 'foo' yields 'foo' when s is empty. Only not always returns a boolean value.",
        "booleans",
        'neither "and" nor "or" restrict the value and type they return to "False" and "True"',
        also=('(Important exception: the Boolean operations "or" and "and" always return one of their operands.)',),
        tags=("operators",),
    ),
    Spec(
        "falsy-builtins",
        "Which built-in values count as false in an if condition?",
        "None and False, zero of any numeric type such as 0, 0.0 and 0j, and empty sequences and collections such as "
        "'', (), [], {}, set() and range(0).",
        "truth",
        "Here are most of the built-in objects considered false",
        also=(
            'the following values are interpreted as false: "False", "None", numeric zero of all types, and empty '
            "strings and containers",
        ),
        tags=("types",),
    ),
    Spec(
        "power-before-unary-minus",
        "Why does -1**2 evaluate to -1 instead of 1?",
        "The power operator binds more tightly than unary operators on its left, so in an unparenthesized sequence "
        "of power and unary operators the operators are evaluated from right to left: -1**2 results in -1.",
        "power",
        "in an unparenthesized sequence of power and unary operators, the operators are evaluated from right to left",
        tags=("operators", "numbers"),
    ),
    Spec(
        "modulo-sign",
        "What sign does Python give the result of % when one operand is negative?",
        "The modulo operator always yields a result with the same sign as its second operand (or zero), and the "
        "absolute value of the result is strictly smaller than the absolute value of the second operand.",
        "binary",
        "The modulo operator always yields a result with the same sign as its second operand (or zero)",
        tags=("operators", "numbers"),
    ),
    Spec(
        "octal-leading-zero",
        "Why is 0777 rejected as an integer literal?",
        "Leading zeros in a non-zero decimal number are not allowed, for disambiguation with C-style octal literals "
        "that Python used before version 3.0. Examples of octal integer literals are 0o177 and 0o377.",
        "integers",
        "Note that leading zeros in a non-zero decimal number are not allowed.",
        tags=("literals", "numbers"),
    ),
    Spec(
        "raw-string-prefix",
        "What does the r in front of a string literal like r'\\d+' do?",
        "It makes a raw string: raw strings treat backslashes as literal characters, so escape sequences are not "
        "processed.",
        "strings",
        "such strings are called *raw strings* and treat backslashes as literal characters",
        tags=("literals", "strings"),
    ),
    Spec(
        "strip-takes-characters",
        "I called 'abc_value'.strip('abc_') expecting to remove the prefix, but it also ate letters at the end. Why?",
        "The chars argument of strip is not a prefix or suffix: all combinations of its characters are removed from "
        "both ends. To remove a single prefix string use str.removeprefix().",
        "string-methods",
        "The *chars* argument is not a prefix or suffix; rather, all combinations of its values are stripped",
        tags=("strings",),
    ),
    Spec(
        "thousands-separator",
        "How do I format a big number with commas between the thousands?",
        "Use the ',' option of the format specification: '{:,}'.format(1234567890) gives '1,234,567,890'. For a "
        "locale aware separator, use the 'n' integer presentation type instead.",
        "formatstrings",
        "The \"','\" option signals the use of a comma for a thousands separator.",
        tags=("strings", "formatting"),
    ),
    Spec(
        "dict-insertion-order",
        "Do dictionaries remember the order in which keys were added?",
        "Yes. Dictionaries preserve insertion order, guaranteed since Python 3.7. Updating a key does not affect "
        "the order, and keys added after deletion are inserted at the end.",
        "typesmapping",
        "Dictionaries preserve insertion order.",
        must_not=("dictionaries are unordered", "order is arbitrary"),
        tags=("types", "mappings"),
    ),
    Spec(
        "dict-literal-duplicate-keys",
        "What happens if I write the same key twice in a dict literal?",
        "Clashes between duplicate keys are not detected: the last value given for the key, textually rightmost in "
        "the display, prevails.",
        "dict",
        "the last value (textually rightmost in the display) stored for a given key value prevails",
        must_not=("raises a SyntaxError", "raises a KeyError"),
        tags=("types", "mappings"),
    ),
    Spec(
        "list-repetition-shares-items",
        "Why does [[]] * 3 give me three inner lists that all change together?",
        "Items of a sequence are not copied by repetition; they are referenced multiple times, so all three elements "
        "of [[]] * 3 are references to a single empty list. Create different lists with [[] for i in range(3)].",
        "typesseq",
        "items in the sequence *s* are not copied; they are referenced multiple times.",
        tags=("types", "sequences"),
    ),
    Spec(
        "list-sort-stable",
        "Does list.sort() keep equal items in their original order, and why does it return None?",
        "Yes, sort() is guaranteed to be stable: it does not change the relative order of elements that compare "
        "equal. It sorts the list in place and does not return the sorted sequence; use sorted() for a new list.",
        "typesseq",
        'The "sort()" method is guaranteed to be stable.',
        must_not=("cmp=",),
        tags=("types", "sequences"),
    ),
    Spec(
        "relative-import-dot",
        "What does from . import mod mean inside a package?",
        "It is a relative import: one leading dot means the current package where the module making the import "
        "exists, so from . import mod in package pkg imports pkg.mod. Two dots means up one package level.",
        "import",
        "One leading dot means the current package where the module making the import exists.",
        tags=("statements", "modules"),
    ),
    Spec(
        "await-where-allowed",
        "Where am I allowed to use await?",
        "Only inside a coroutine function, one defined with async def: await expressions, async for and async with "
        "can only be used in the body of a coroutine function.",
        "await",
        "Can only be used inside a *coroutine function*.",
        also=(
            '"await" expressions, "async for" and "async with" can only be used in the body of a coroutine function.',
        ),
        tags=("async",),
    ),
    Spec(
        "match-soft-keyword",
        "Now that Python has pattern matching, can I still name a variable match?",
        "Yes. match, case and _ are soft keywords: they act as keywords only in contexts related to the pattern "
        "matching statement, so existing code can still use them as identifier names.",
        "identifiers",
        'The identifiers "match", "case" and "_" can syntactically act as keywords',
        must_not=("match is a reserved keyword",),
        tags=("syntax",),
    ),
    Spec(
        "breakpoint-builtin",
        "What is the quickest way to stop my program in the debugger at a given line?",
        "Call the built-in breakpoint() at that location and run the program; with defaults it can be used instead "
        "of import pdb; pdb.set_trace().",
        "debugger",
        'The built-in "breakpoint()", when called with defaults, can be used instead of "import pdb; pdb.set_trace()".',
        tags=("tools",),
    ),
    Spec(
        "unanswerable-csv",
        "How do I read rows from a CSV file?",
        "The sample documents do not cover the csv module; the assistant should say it cannot answer from the "
        "provided sources.",
        must_not=("csv.reader", "csv.DictReader"),
        tags=("unanswerable",),
        absent=("csv",),
    ),
    Spec(
        "unanswerable-venv",
        "How do I create a virtual environment for my project?",
        "The sample documents do not cover virtual environments; the assistant should say it cannot answer from "
        "the provided sources.",
        must_not=("python -m venv", "virtualenv"),
        tags=("unanswerable",),
        absent=("venv", "virtual environment"),
    ),
    Spec(
        "unanswerable-json",
        "How do I pretty-print a JSON document?",
        "The sample documents do not cover the json module; the assistant should say it cannot answer from the "
        "provided sources.",
        must_not=("json.dumps", "indent="),
        tags=("unanswerable",),
        absent=("json",),
    ),
)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _anywhere(quote: str, texts: dict[str, str]) -> bool:
    return any(quote in t for t in texts.values())


def build(documents: dict[str, str]) -> tuple[str, list[str]]:
    """The JSON Lines text and the problems found: an anchor not in its topic, a quote in no document, a reference
    sentence its expected sources do not support, a reference containing its must-not phrases or (not) refusing
    when the question is (un)answerable, an unanswerable question's subject that a document mentions."""
    flat = {uri: _flat(text) for uri, text in documents.items()}
    lines, problems = [], []
    for spec in SPECS:
        expected: list[str] = []
        if spec.topic:
            primary = TOPIC + spec.topic
            quotes = [_flat(q) for q in (spec.anchor, *spec.also)]
            if quotes[0] not in flat.get(primary, ""):
                problems.append(f"{spec.id}: the anchor is not in {primary}")
            problems += [f"{spec.id}: {q[:40]!r}... is in no document" for q in quotes if not _anywhere(q, flat)]
            expected = [primary, *sorted(u for u, t in flat.items() if u != primary and any(q in t for q in quotes))]
            passages = [lexical.Passage.of(documents[u]) for u in expected if u in documents]
            unsupported = [c.text for c in lexical.claims(spec.reference) if not lexical.supported(c, passages)]
            problems += [f"{spec.id}: reference sentence not supported: {s!r}" for s in unsupported]
        if own := lexical.violations(spec.reference, spec.must_not):
            problems.append(f"{spec.id}: the reference answer contains its must-not phrases {own}")
        if lexical.is_refusal(spec.reference) == bool(spec.topic):
            problems.append(f"{spec.id}: the reference answer {'is' if spec.topic else 'is not'} a refusal")
        for term in spec.absent:
            if found := [u for u, t in flat.items() if term.lower() in t.lower()]:
                problems.append(f"{spec.id}: {term!r} occurs in {found}")
        item = {
            "id": spec.id,
            "question": spec.question,
            "expected_sources": expected,
            "reference_answer": spec.reference,
            "must_not_contain": list(spec.must_not),
            "tags": list(spec.tags),
        }
        lines.append(json.dumps(item, ensure_ascii=False))
    return "\n".join(lines) + "\n", problems


def main() -> int:
    """Writes (or with --check, compares) the golden set; 1 on any problem."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the checked-in file, write nothing")
    options = parser.parse_args()
    text, problems = build({d.source_uri: d.text for d in sample_documents()})
    golden = parse_golden_set(OUT.stem, text)
    for problem in problems:
        sys.stderr.write(problem + "\n")
    if problems:
        return 1
    if options.check:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        sys.stdout.write(f"{OUT.name}: {'up to date' if same else 'STALE: run the builder'}\n")
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    sys.stdout.write(f"{OUT.name}: {len(golden.items)} items, version {golden.version}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
