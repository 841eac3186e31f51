"""`python -m llmops.triton_local`: serve the test model or SmolLM2 (llama.cpp) on a real Triton server."""

from __future__ import annotations

import argparse
from pathlib import Path

from llmops.logging import configure_logging
from llmops.triton_local.backends import Backend, ExtractiveBackend, LlamaCppBackend, smollm2_path
from llmops.triton_local.server import serve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["extractive", "llama"], default="llama")
    parser.add_argument("--model-path", type=Path, help="GGUF file; default: SmolLM2-135M-Instruct")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads; default: all cores")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--metrics-port", type=int, default=8002)
    args = parser.parse_args()
    configure_logging()
    backend: Backend = (
        ExtractiveBackend()
        if args.backend == "extractive"
        else LlamaCppBackend(args.model_path or smollm2_path(), n_threads=args.threads)
    )
    serve(
        backend,
        grpc_port=args.grpc_port,
        http_port=args.http_port,
        metrics_port=args.metrics_port,
        host=args.host,
    )


if __name__ == "__main__":
    main()
