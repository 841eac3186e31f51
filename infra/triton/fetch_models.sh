#!/usr/bin/env bash
# Copies the preprocessing and postprocessing model.py files of the TensorRT-LLM inflight-batcher ensemble into
# infra/triton/model_repository/ from triton-inference-server/tensorrtllm_backend at a pinned tag. They are not
# vendored (license and upkeep stay upstream); the config.pbtxt files here are that tag's templates, filled in.
#
# The tag must match the TensorRT-LLM version inside the Triton image in docker-compose.yml:
#   nvcr.io/nvidia/tritonserver:25.01-trtllm-python-py3  ->  TensorRT-LLM v0.17.0  ->  tensorrtllm_backend v0.17.0
set -euo pipefail

TAG="${TRTLLM_BACKEND_TAG:-v0.17.0}"
REPO="${TRTLLM_BACKEND_REPO:-https://github.com/triton-inference-server/tensorrtllm_backend.git}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT

git clone --quiet --depth 1 --branch "${TAG}" "${REPO}" "${WORK}/tensorrtllm_backend"
for model in preprocessing postprocessing; do
  install -m 0644 "${WORK}/tensorrtllm_backend/all_models/inflight_batcher_llm/${model}/1/model.py" \
    "${HERE}/model_repository/${model}/1/model.py"
  echo "fetched ${model}/1/model.py from tensorrtllm_backend ${TAG}"
done
