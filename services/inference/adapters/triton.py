"""Triton client for the TensorRT-LLM ensemble: unary `infer`, or decoupled streaming over one gRPC stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import numpy as np
import tritonclient.grpc.aio as triton
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from llmops.errors import DeadlineExceeded, FailedPrecondition, Unavailable
from services.inference.core import Parameters


def _tensor(name: str, value: Any, datatype: str) -> triton.InferInput:
    array = np.array([[value]], dtype=object if datatype == "BYTES" else None)
    if datatype != "BYTES":
        array = array.astype({"INT32": np.int32, "UINT64": np.uint64, "FP32": np.float32, "BOOL": np.bool_}[datatype])
    tensor = triton.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return tensor


def ensemble_inputs(prompt: str, params: Parameters, *, stream: bool) -> list[triton.InferInput]:
    """The ensemble's input tensors for one request (batch of one)."""
    inputs = [
        _tensor("text_input", prompt.encode(), "BYTES"),
        _tensor("max_tokens", params.max_tokens, "INT32"),
        _tensor("stream", stream, "BOOL"),
        _tensor("temperature", params.temperature, "FP32"),
        _tensor("top_p", params.top_p, "FP32"),
        _tensor("top_k", params.top_k, "INT32"),
        _tensor("repetition_penalty", params.repetition_penalty, "FP32"),
        _tensor("random_seed", params.seed, "UINT64"),
        _tensor("exclude_input_in_output", True, "BOOL"),
    ]
    if params.stop_words:
        words = np.array([[w.encode() for w in params.stop_words]], dtype=object)
        stop = triton.InferInput("stop_words", list(words.shape), "BYTES")
        stop.set_data_from_numpy(words)
        inputs.append(stop)
    return inputs


def _text(result: Any) -> str:
    output = result.as_numpy("text_output")
    if output is None or output.size == 0:
        return ""
    value = output.reshape(-1)[0]
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _translate(exc: InferenceServerException, url: str, timeout_s: float) -> Exception:
    status = str(exc.status() or "")
    if "DEADLINE_EXCEEDED" in status:
        return DeadlineExceeded(f"the model did not answer within {timeout_s}s")
    if "NOT_FOUND" in status or "INVALID_ARG" in status:
        return FailedPrecondition(f"Triton at {url} rejected the request: {exc.message()}")
    return Unavailable(f"Triton at {url} is unavailable: {exc.message()}")


class TritonGenerator:
    """Generates text with a Triton model that speaks the TensorRT-LLM ensemble interface."""

    def __init__(self, url: str, model: str, *, timeout_s: float = 120.0) -> None:
        self.url = url
        self.model = model
        self.timeout_s = timeout_s
        self._client = triton.InferenceServerClient(url)
        self._channel = grpc.aio.insecure_channel(url)
        self._stream_stub = service_pb2_grpc.GRPCInferenceServiceStub(self._channel)
        self._decoupled: bool | None = None

    async def decoupled(self) -> bool:
        """Whether the model streams (decoupled transaction policy); read once from its config."""
        if self._decoupled is None:
            try:
                config = await self._client.get_model_config(self.model, as_json=True, client_timeout=10)
            except InferenceServerException as exc:
                raise _translate(exc, self.url, 10) from exc
            policy = config.get("config", {}).get("model_transaction_policy", {})
            self._decoupled = bool(policy.get("decoupled", False))
        return self._decoupled

    async def ready(self) -> bool:
        """Whether Triton reports the model ready."""
        try:
            return bool(await self._client.is_model_ready(self.model, client_timeout=5))
        except InferenceServerException:
            return False

    async def stream(self, prompt: str, params: Parameters) -> AsyncIterator[str]:
        """Yields completion text as the model produces it (one piece per unary call when not decoupled)."""
        if not await self.decoupled():
            try:
                result = await self._client.infer(
                    self.model, ensemble_inputs(prompt, params, stream=False), client_timeout=self.timeout_s
                )
            except InferenceServerException as exc:
                raise _translate(exc, self.url, self.timeout_s) from exc
            yield _text(result)
            return
        async for piece in self._stream_decoupled(prompt, params):
            yield piece

    async def _stream_decoupled(self, prompt: str, params: Parameters) -> AsyncIterator[str]:
        finished = asyncio.Event()
        request = service_pb2.ModelInferRequest(model_name=self.model, id=uuid.uuid4().hex)
        for tensor in ensemble_inputs(prompt, params, stream=True):
            request.inputs.append(tensor._get_tensor())
            request.raw_input_contents.append(tensor._get_content())
        # Ends every stream with an empty response flagged final, the only end marker a decoupled model sends
        # when its last piece is already out. tritonclient's aio API cannot set this flag, hence the raw stub.
        request.parameters["triton_enable_empty_final_response"].bool_param = True

        async def requests() -> AsyncIterator[service_pb2.ModelInferRequest]:
            yield request
            # Keep the request side open until the final response: closing it early ends the stream.
            await finished.wait()

        call = self._stream_stub.ModelStreamInfer(requests(), timeout=self.timeout_s)
        try:
            async for response in call:
                if response.error_message:
                    raise FailedPrecondition(f"Triton at {self.url} failed the request: {response.error_message}")
                result = triton.InferResult(response.infer_response)
                piece = _text(result)
                if piece:
                    yield piece
                final = response.infer_response.parameters.get("triton_final_response")
                if final is not None and final.bool_param:
                    break
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise DeadlineExceeded(f"the model did not finish within {self.timeout_s}s") from exc
            raise Unavailable(f"Triton at {self.url} is unavailable: {exc.details()}") from exc
        finally:
            finished.set()
            call.cancel()

    async def close(self) -> None:
        """Closes the gRPC channel."""
        await self._client.close()
        await self._channel.close()
