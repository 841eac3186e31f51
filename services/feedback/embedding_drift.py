"""Query-embedding drift: a permutation test on MMD² between a reference window and the latest queries; pure.

Fed one query embedding at a time; every `check_every` items it tests whether the current window comes from the
reference distribution (RBF kernel, bandwidth by the median heuristic on the pooled sample, so each check's false-
alarm probability is at most `alpha`), and names the current queries that most distinguish the two windows.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from services.feedback.drift import Alarm, Example, Window, require


class EmbeddingDrift:
    """Query-embedding drift: unbiased MMD² (RBF kernel) between a reference and a sliding current window.

    The first `reference_size` embeddings (or those given to `set_reference`) are the reference; the latest
    `window_size` are the current window. Once it is full, the current window is tested every `check_every`
    embeddings by a permutation test: the pooled sample's labels are shuffled `permutations` times (seeded) and
    the check alarms when MMD² exceeds the null's (1 − alpha) quantile, i.e. when its p-value is ≤ `alpha`. The
    kernel bandwidth is the median pairwise distance of the pooled sample, a function of the pool alone, so on
    a stationary (exchangeable) stream each check alarms with probability ≤ alpha. Checks sharing items are
    correlated: alpha bounds alarms per check, not per stream.

    After an alarm no check runs for `cooldown` embeddings (default: a whole window), so a lasting shift alarms
    once per fresh window; the reference stays until `set_reference` or `relearn_reference`.

    Cost: updates between checks are O(d); a check builds the (N+M)² kernel and one (N+M)² × permutations
    product. Memory is O((N+M)·d), plus the kernel during a check.
    """

    detector = "embedding_mmd"

    def __init__(
        self,
        metric: str = "query_embedding",
        *,
        reference_size: int = 500,
        window_size: int = 200,
        check_every: int = 50,
        alpha: float = 0.01,
        permutations: int = 200,
        cooldown: int | None = None,
        top_k: int = 5,
        seed: int = 0,
    ) -> None:
        require(reference_size >= 2, f"reference_size must be ≥ 2, got {reference_size}")
        require(window_size >= 2, f"window_size must be ≥ 2, got {window_size}")
        require(check_every >= 1, f"check_every must be ≥ 1, got {check_every}")
        require(0 < alpha < 1, f"alpha must be in (0, 1), got {alpha}")
        # The smallest p-value a permutation test can reach is 1 / (permutations + 1).
        self._rank = math.floor(alpha * (permutations + 1) + 1e-9) - 1
        require(
            self._rank >= 0,
            f"permutations={permutations} cannot reach alpha={alpha}; use at least {math.ceil(1 / alpha) - 1}",
        )
        require(cooldown is None or cooldown >= 0, f"cooldown must be ≥ 0, got {cooldown}")
        require(top_k >= 0, f"top_k must be ≥ 0, got {top_k}")
        self.metric = metric
        self.reference_size = reference_size
        self.window_size = window_size
        self.check_every = check_every
        self.alpha = alpha
        self.permutations = permutations
        self.cooldown = window_size if cooldown is None else cooldown
        self.top_k = top_k
        self.checks = 0
        """Permutation tests run so far."""
        self._rng = np.random.default_rng(seed)
        self._dim: int | None = None
        self._position = 0
        self._learning: list[npt.NDArray[np.float64]] = []
        self._reference: npt.NDArray[np.float64] | None = None
        self._reference_window = Window("reference", 0, 0, 0)
        self._window = np.empty((0, 0))
        self._ids: list[str] = []
        self._positions: list[int] = []
        self._filled = 0
        self._head = 0
        self._next_check = 0
        self._current_upper = np.triu_indices(window_size, 1)
        self._reference_squared = self._reference_upper = np.empty(0)
        self._reference_distances = np.empty((0, 0))

    def set_reference(self, embeddings: npt.ArrayLike) -> None:
        """Uses these embeddings (one per row) as the reference from now on, and empties the current window."""
        reference = np.asarray(embeddings, dtype=np.float64)
        require(reference.ndim == 2 and len(reference) >= 2, f"{self.metric}: reference must be ≥ 2 rows of vectors")
        require(bool(np.isfinite(reference).all()), f"{self.metric}: reference has non-finite values")
        self._dim = reference.shape[1]
        self._start(reference.copy(), Window("reference", self._position, self._position, len(reference)))

    def relearn_reference(self) -> None:
        """Makes the next `reference_size` embeddings the reference (e.g. once a drift is accepted as normal)."""
        self._reference = None
        self._learning = []

    def update(self, embedding: npt.ArrayLike, item_id: str = "") -> Alarm | None:
        """Feeds one query embedding; an alarm when this one completes a check that finds drift."""
        vector = np.asarray(embedding, dtype=np.float64)
        require(vector.ndim == 1 and len(vector) > 0, f"{self.metric}: expected one vector, got shape {vector.shape}")
        require(self._dim in (None, len(vector)), f"{self.metric}: expected {self._dim} dimensions, got {len(vector)}")
        require(bool(np.isfinite(vector).all()), f"{self.metric}: embedding has non-finite values")
        self._dim = len(vector)
        position = self._position
        self._position += 1
        if self._reference is None:
            self._learning.append(vector.copy())  # the caller may reuse its buffer
            if len(self._learning) == self.reference_size:
                start = position + 1 - self.reference_size
                self._start(np.stack(self._learning), Window("reference", start, position + 1, self.reference_size))
                self._learning = []
            return None
        self._window[self._head] = vector
        self._ids[self._head] = item_id or str(position)
        self._positions[self._head] = position
        self._head = (self._head + 1) % self.window_size
        self._filled = min(self._filled + 1, self.window_size)
        if self._filled < self.window_size or position < self._next_check:
            return None
        return self._check(position)

    def _start(self, reference: npt.NDArray[np.float64], window: Window) -> None:
        self._reference = reference
        self._reference_window = window
        # The reference's own distances are the same at every check: computed once (O(N²) memory).
        self._reference_squared = np.einsum("ij,ij->i", reference, reference)
        self._reference_distances = _distances(reference, reference, self._reference_squared, self._reference_squared)
        np.fill_diagonal(self._reference_distances, 0.0)
        self._reference_upper = self._reference_distances[np.triu_indices(len(reference), 1)]
        self._window = np.empty((self.window_size, reference.shape[1]))
        self._ids = [""] * self.window_size
        self._positions = [0] * self.window_size
        self._filled = self._head = 0
        self._next_check = self._position + self.window_size - 1

    def _check(self, position: int) -> Alarm | None:
        if self._reference is None:  # unreachable: checks run only once a reference exists
            return None
        order = [(self._head + i) % self.window_size for i in range(self.window_size)]  # oldest first
        n_ref, m = len(self._reference), self.window_size
        current = self._window[order]
        current_squared = np.einsum("ij,ij->i", current, current)
        across = _distances(self._reference, current, self._reference_squared, current_squared)
        within = _distances(current, current, current_squared, current_squared)
        np.fill_diagonal(within, 0.0)
        pooled_upper = np.concatenate((self._reference_upper, across.ravel(), within[self._current_upper]))
        scale = float(np.median(pooled_upper)) or float(pooled_upper.mean())
        self.checks += 1
        self._next_check = position + self.check_every
        if scale == 0.0:  # every embedding identical: nothing to compare
            return None
        kernel = np.block([[self._reference_distances, across], [across.T, within]])
        kernel *= -0.5 / scale
        np.exp(kernel, out=kernel)
        statistics = _mmd2_by_labelling(kernel, self._labellings(n_ref + m, n_ref), n_ref)
        observed, null = float(statistics[0]), np.sort(statistics[1:])[::-1]
        threshold = float(null[self._rank])
        if observed <= threshold:
            return None
        self._next_check = position + max(self.check_every, self.cooldown)
        # Witness of each current item: mean kernel to the current window minus to the reference; the largest
        # are the queries the current window has and the reference lacks.
        witness = (kernel[n_ref:, n_ref:].sum(axis=1) - 1.0) / (m - 1) - kernel[n_ref:, :n_ref].mean(axis=1)
        top = np.argsort(-witness, kind="stable")[: self.top_k]
        examples = tuple(
            Example(self._ids[order[i]], self._positions[order[i]], float(witness[i])) for i in top.tolist()
        )
        p_value = (1 + int(np.count_nonzero(null >= observed))) / (1 + self.permutations)
        return Alarm(
            detector=self.detector,
            metric=self.metric,
            statistic=observed,
            threshold=threshold,
            position=position,
            windows=(self._reference_window, Window("current", position + 1 - m, position + 1, m)),
            examples=examples,
            details={
                "p_value": p_value,
                "alpha": self.alpha,
                "permutations": self.permutations,
                "bandwidth": math.sqrt(scale),
            },
        )

    def _labellings(self, n: int, n_ref: int) -> npt.NDArray[np.float64]:
        """Column 0 is the true split (1 = reference, listed first); the rest are seeded random splits of the pool."""
        labels = np.zeros((n, self.permutations + 1))
        labels[:n_ref] = 1.0
        labels[:, 1:] = self._rng.permuted(labels[:, 1:], axis=0)
        return labels


def _distances(
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    a_squared: npt.NDArray[np.float64],
    b_squared: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Squared Euclidean distances between the rows of `a` and of `b`, given their squared norms."""
    result: npt.NDArray[np.float64] = a_squared[:, None] + b_squared[None, :] - 2.0 * (a @ b.T)
    return np.maximum(result, 0.0, out=result)


def _mmd2_by_labelling(
    kernel: npt.NDArray[np.float64], labels: npt.NDArray[np.float64], n_ref: int
) -> npt.NDArray[np.float64]:
    """Unbiased MMD² of every labelling at once (1 = reference), from one product; the kernel's diagonal is 1."""
    m = len(kernel) - n_ref
    k_labels = kernel @ labels
    within_ref = np.einsum("ij,ij->j", labels, k_labels)
    ref_to_all = k_labels.sum(axis=0)
    across = ref_to_all - within_ref
    within_cur = kernel.sum() - 2.0 * ref_to_all + within_ref
    result: npt.NDArray[np.float64] = (
        (within_ref - n_ref) / (n_ref * (n_ref - 1)) + (within_cur - m) / (m * (m - 1)) - 2.0 * across / (n_ref * m)
    )
    return result
