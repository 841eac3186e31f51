"""Writes docs/asyncapi.json from the event models; `--check` fails when the checked-in file is stale."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from llmops.asyncapi import document

TARGET = Path(__file__).resolve().parent.parent / "docs" / "asyncapi.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    rendered = json.dumps(document(), indent=2, sort_keys=True) + "\n"
    if parser.parse_args().check:
        if not TARGET.exists() or TARGET.read_text() != rendered:
            sys.stderr.write("docs/asyncapi.json is stale: run scripts/gen_asyncapi.py\n")
            return 1
        return 0
    TARGET.write_text(rendered)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
