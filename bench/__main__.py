"""Runs every benchmark in `bench/` one after another, each as `python -m bench.<name>` in its own process.

A benchmark is a module here with a `__main__` block (helpers the benchmarks start, such as the passthrough
server, are left out). Each runs with its defaults, or with `--quick` where its argparse has one; output streams
as it comes, and a summary of what ran and each exit code closes the run. The PostgreSQL variant of the audit
benchmark runs only when `LLMOPS_TEST_POSTGRES_DSN` is set.

    .venv/bin/python -m bench [--only name,name] [--skip name,name] [--list]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
HELPERS = frozenset({"passthrough_server"})
"""Modules with a `__main__` block that are not benchmarks: the passthrough server takes a port and a URL."""
POSTGRES_ENV = "LLMOPS_TEST_POSTGRES_DSN"


@dataclass(frozen=True)
class Benchmark:
    name: str
    arguments: tuple[str, ...]
    note: str = ""


def discover() -> list[Benchmark]:
    """The benchmarks in `bench/`, by name, with the arguments each runs with."""
    found = []
    for path in sorted(BENCH.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        if path.stem.startswith("_") or path.stem in HELPERS or 'if __name__ == "__main__":' not in source:
            continue
        arguments: list[str] = ["--quick"] if '"--quick"' in source else []
        note = ""
        if '"--postgres"' in source:
            if os.environ.get(POSTGRES_ENV):
                note = f"PostgreSQL variant on ({POSTGRES_ENV} is set)"
            else:
                arguments.append("--postgres=")
                note = f"PostgreSQL variant skipped ({POSTGRES_ENV} is not set)"
        found.append(Benchmark(path.stem, tuple(arguments), note))
    return found


def names(value: str) -> set[str]:
    return {n.strip().removeprefix("bench.") for n in value.split(",") if n.strip()}


def select(available: list[Benchmark], only: set[str], skip: set[str]) -> list[Benchmark]:
    """The benchmarks to run; exits naming the choices when `--only` or `--skip` names an unknown one."""
    known = {b.name for b in available}
    if unknown := sorted((only | skip) - known):
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(sorted(known))}")
    return [b for b in available if (not only or b.name in only) and b.name not in skip]


def run(benchmark: Benchmark) -> tuple[int, float]:
    """Runs one benchmark from the repository root, its output going straight to ours; its exit code and seconds."""
    command = [sys.executable, "-m", f"bench.{benchmark.name}", *benchmark.arguments]
    print(
        f"\n{'=' * 100}\n# {' '.join(['python', *command[1:]])}" + (f"  ({benchmark.note})" if benchmark.note else "")
    )
    sys.stdout.flush()
    started = time.perf_counter()
    try:
        code = subprocess.run(command, cwd=ROOT, check=False).returncode
    except KeyboardInterrupt:
        code = 130
    return code, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", type=names, default=set(), help="comma-separated benchmarks to run")
    parser.add_argument("--skip", type=names, default=set(), help="comma-separated benchmarks to leave out")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and their arguments, run nothing")
    args = parser.parse_args()
    chosen = select(discover(), args.only, args.skip)
    if args.list:
        for b in chosen:
            print(f"{b.name} {' '.join(b.arguments)}".rstrip() + (f"  ({b.note})" if b.note else ""))
        return
    results: list[tuple[Benchmark, int, float]] = []
    for benchmark in chosen:
        code, seconds = run(benchmark)
        results.append((benchmark, code, seconds))
        if code == 130:  # interrupted: stop here, still summarise
            break
    print(f"\n{'=' * 100}\n## Summary\n\n| benchmark | arguments | exit code | seconds |\n|---|---|---|---|")
    for benchmark, code, seconds in results:
        print(f"| {benchmark.name} | {' '.join(benchmark.arguments)} | {code} | {seconds:.0f} |")
    if not_run := [b.name for b in chosen[len(results) :]]:
        print(f"\nNot run (interrupted): {', '.join(not_run)}")
    failed = [b.name for b, code, _ in results if code != 0]
    print(
        f"\n{len(results) - len(failed)} of {len(chosen)} passed" + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    sys.exit(1 if failed or len(results) < len(chosen) else 0)


if __name__ == "__main__":
    main()
