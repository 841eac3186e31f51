"""Regenerates the protobuf and gRPC Python code (with .pyi stubs) from proto/ into libs/llmops/api/.

Run `python scripts/gen_protos.py`; `--check` exits non-zero when the checked-in code is stale.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
OUTPUT_ROOT = ROOT / "libs"
GENERATED_PACKAGE = OUTPUT_ROOT / "llmops" / "api"
HEADER = '"""Generated protobuf and gRPC code for the llmops contracts. Do not edit: run scripts/gen_protos.py."""\n'


def generate(out_root: Path) -> None:
    """Writes generated modules for every .proto under proto/ into out_root."""
    # protoc finds the mypy-protobuf plugins on PATH; they sit beside this interpreter.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_root}",
        f"--mypy_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--mypy_grpc_out={out_root}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    api = out_root / "llmops" / "api"
    for package in [api, *(p for p in api.rglob("*") if p.is_dir())]:
        (package / "__init__.py").write_text(HEADER if package == api else "")
    (out_root / "llmops" / "__init__.py").unlink(missing_ok=True)


def _differences(left: Path, right: Path) -> list[str]:
    cmp = filecmp.dircmp(left, right, ignore=["__pycache__"])
    diffs = [*cmp.left_only, *cmp.right_only]
    diffs += [f for f in cmp.common_files if not filecmp.cmp(left / f, right / f, shallow=False)]
    for sub in cmp.common_dirs:
        diffs += [f"{sub}/{d}" for d in _differences(left / sub, right / sub)]
    return diffs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the checked-in code is stale")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = Path(tmp) / "llmops" / "api"
        if options.check:
            stale = _differences(fresh, GENERATED_PACKAGE) if GENERATED_PACKAGE.exists() else ["(missing)"]
            if stale:
                sys.stderr.write("stale generated code, run scripts/gen_protos.py: " + ", ".join(stale) + "\n")
                return 1
            return 0
        shutil.rmtree(GENERATED_PACKAGE, ignore_errors=True)
        shutil.copytree(fresh, GENERATED_PACKAGE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
