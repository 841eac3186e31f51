"""Merkle proofs at 1,000,000 entries: generation from the audit store's node table, and verification.

Builds a SQLite store of N leaves the way the log writer does (compact range → perfect-subtree nodes, one table),
then times, for random leaves: inclusion-proof generation from stored nodes (the service's path, without the
gRPC hop), inclusion-proof verification (`llmops.merkle.verify_inclusion`, what a client runs), and consistency
proofs between random sizes. Peer: recomputing the proof from all leaf hashes in memory (`merkle.inclusion_proof`
over a list), what a store without subtree nodes would have to do.

    .venv/bin/python -m bench.audit_proofs [--entries 1000000] [--samples 500]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from llmops import merkle


def build(path: Path, entries: int) -> tuple[sqlite3.Connection, list[bytes], bytes]:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE audit_nodes (level INTEGER, idx BIGINT, hash BLOB, PRIMARY KEY (level, idx))")
    tree = merkle.CompactRange()
    leaves, batch = [], []
    for i in range(entries):
        leaf = merkle.leaf_hash(hashlib.sha256(i.to_bytes(8, "big")).digest())
        leaves.append(leaf)
        batch.extend((n.level, n.index, n.hash) for n in tree.append(leaf))
        if len(batch) > 100_000:
            db.executemany("INSERT INTO audit_nodes VALUES (?, ?, ?)", batch)
            batch.clear()
    db.executemany("INSERT INTO audit_nodes VALUES (?, ?, ?)", batch)
    db.commit()
    return db, leaves, tree.root()


def timed(fn: Callable[[], object], samples: int) -> tuple[float, float]:
    durations = []
    for _ in range(samples):
        started = time.perf_counter()
        fn()
        durations.append((time.perf_counter() - started) * 1e6)
    durations.sort()
    return statistics.median(durations), durations[int(len(durations) * 0.95)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=500)
    args = parser.parse_args()
    rng = random.Random(2026)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        db, leaves, root = build(Path(tmp) / "nodes.db", args.entries)
        print(f"{args.entries:,} leaves stored as subtree nodes in {time.perf_counter() - started:.1f} s")

        def lookup(level: int, index: int) -> bytes:
            row = db.execute("SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?", (level, index)).fetchone()
            return bytes(row[0])

        stored = merkle.node_range_hash(lookup)
        size = args.entries
        proofs: dict[int, list[bytes]] = {}

        def generate() -> None:
            index = rng.randrange(size)
            proofs[index] = merkle.inclusion_proof(stored, index, size)

        gen = timed(generate, args.samples)
        checks = list(proofs.items())

        def verify() -> None:
            index, proof = checks[rng.randrange(len(checks))]
            merkle.verify_inclusion(leaves[index], index, size, proof, root)

        ver = timed(verify, args.samples * 4)

        def consistency() -> None:
            first = rng.randrange(1, size)
            merkle.consistency_proof(stored, first, size)

        con = timed(consistency, args.samples)
        peer = timed(lambda: merkle.inclusion_proof(leaves, rng.randrange(size), size), max(3, args.samples // 100))
        print("\n| operation | p50 µs | p95 µs |\n|---|---|---|")
        print(f"| inclusion proof from stored nodes | {gen[0]:,.0f} | {gen[1]:,.0f} |")
        print(f"| inclusion proof verification | {ver[0]:,.1f} | {ver[1]:,.1f} |")
        print(f"| consistency proof from stored nodes | {con[0]:,.0f} | {con[1]:,.0f} |")
        print(f"| peer: inclusion proof from all leaves in memory | {peer[0]:,.0f} | {peer[1]:,.0f} |")
        print(f"\nstored nodes vs recomputing from leaves: {peer[0] / gen[0]:,.0f}× faster (p50)")
        db.close()


if __name__ == "__main__":
    main()
