"""Triton client for the TensorRT-LLM ensemble: unary `infer`, or decoupled streaming over one gRPC stream."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import grpc
import numpy as np
import tritonclient.grpc.aio as triton
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from llmops.errors import DeadlineExceeded, FailedPrecondition, Unavailable
from llmops.trtllm import PERF_METRIC_OUTPUTS
from services.inference.core import Parameters, Piece
from services.inference.resilience import CircuitBreaker, RetryPolicy


@functools.lru_cache(maxsize=4096)
def _tensor(name: str, value: Any, datatype: str) -> triton.InferInput:
    """One [1, 1] input tensor; scalar ones repeat across requests, so each distinct value is built once."""
    array = np.array([[value]], dtype=_NUMPY[datatype])
    tensor = triton.InferInput(name, [1, 1], datatype)
    tensor.set_data_from_numpy(array)
    return tensor


_NUMPY: dict[str, Any] = {"INT32": np.int32, "UINT64": np.uint64, "FP32": np.float32, "BOOL": np.bool_}


def _bytes_tensor(name: str, values: list[bytes]) -> triton.InferInput:
    array = np.array([values], dtype=object)
    tensor = triton.InferInput(name, list(array.shape), "BYTES")
    tensor.set_data_from_numpy(array)
    return tensor


def ensemble_inputs(prompt: str, params: Parameters, *, stream: bool) -> list[triton.InferInput]:
    """The ensemble's input tensors for one request (batch of one)."""
    inputs = [
        _bytes_tensor("text_input", [prompt.encode()]),
        _tensor("max_tokens", params.max_tokens, "INT32"),
        _tensor("stream", stream, "BOOL"),
        _tensor("temperature", params.temperature, "FP32"),
        _tensor("top_p", params.top_p, "FP32"),
        _tensor("top_k", params.top_k, "INT32"),
        _tensor("repetition_penalty", params.repetition_penalty, "FP32"),
        _tensor("random_seed", params.seed, "UINT64"),
        _tensor("exclude_input_in_output", True, "BOOL"),
    ]
    if params.return_log_probs:
        inputs.append(_tensor("return_log_probs", True, "BOOL"))
    inputs.append(_tensor("return_perf_metrics", True, "BOOL"))
    if params.stop_words:
        inputs.append(_bytes_tensor("stop_words", [w.encode() for w in params.stop_words]))
    return inputs


def stream_request(model: str, prompt: str, params: Parameters) -> service_pb2.ModelInferRequest:
    """The raw request for decoupled streaming (`ModelStreamInfer`), with the ensemble's input tensors."""
    request = service_pb2.ModelInferRequest(model_name=model)
    for tensor in ensemble_inputs(prompt, params, stream=True):
        request.inputs.append(tensor._get_tensor())
        request.raw_input_contents.append(tensor._get_content())
    return request


def _text(result: Any) -> str:
    output = result.as_numpy("text_output")
    if output is None or output.size == 0:
        return ""
    value = output.reshape(-1)[0]
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def read_piece(result: Any) -> Piece:
    """Text plus log-probs and perf metrics when the model returned them."""
    present = {output.name for output in result.get_response().outputs}
    log_probs = result.as_numpy("output_log_probs") if "output_log_probs" in present else None
    cum = result.as_numpy("cum_log_probs") if "cum_log_probs" in present else None
    metrics = {}
    for name in PERF_METRIC_OUTPUTS:
        if name in present:
            value = result.as_numpy(name)
            if value is not None and value.size:
                metrics[name] = str(value.reshape(-1)[0].item())
    return Piece(
        text=_text(result),
        log_probs=tuple(float(x) for x in log_probs.reshape(-1)) if log_probs is not None else (),
        cum_log_prob=float(cum.reshape(-1)[0]) if cum is not None and cum.size else None,
        metrics=metrics,
    )


class ServerUnreachable(Unavailable):
    """Triton could not be reached or refused for now (UNAVAILABLE): worth a retry with backoff."""


class ModelFailed(Unavailable):
    """The model reported an error for this request mid-stream: another model may answer, no retry here."""


def _translate(exc: InferenceServerException, url: str, timeout_s: float) -> Exception:
    status = str(exc.status() or "")
    if "DEADLINE_EXCEEDED" in status:
        return DeadlineExceeded(f"the model did not answer within {timeout_s:.1f}s")
    if "NOT_FOUND" in status or "INVALID_ARG" in status:
        return FailedPrecondition(f"Triton at {url} rejected the request: {exc.message()}")
    if "UNAVAILABLE" in status:
        return ServerUnreachable(f"Triton at {url} is unavailable: {exc.message()}")
    return Unavailable(f"Triton at {url} failed the request: {exc.message()}")


class TritonGenerator:
    """Generates text with a Triton model that speaks the TensorRT-LLM ensemble interface.

    Retries UNAVAILABLE with backoff until the first piece arrives, within the request's deadline; a circuit
    breaker fails fast while the model keeps failing. Closing the stream early cancels the Triton request.
    """

    def __init__(
        self,
        url: str,
        model: str,
        *,
        timeout_s: float = 120.0,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.url = url
        self.model = model
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self.in_flight = 0
        """Triton requests open now; back to zero once every stream has finished or been cancelled."""
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

    async def stream(self, prompt: str, params: Parameters, *, timeout_s: float | None = None) -> AsyncGenerator[Piece]:
        """Yields the completion as the model produces it (one piece per unary call when not decoupled).

        `timeout_s` is the caller's remaining deadline; the call gets the smaller of it and the model's own.
        """
        loop = asyncio.get_running_loop()
        caller_bound = timeout_s is not None and timeout_s < self.timeout_s
        budget = timeout_s if timeout_s is not None and caller_bound else self.timeout_s
        if budget <= 0:
            raise DeadlineExceeded(f"no time left for model {self.model}: the caller's deadline has passed")
        deadline = loop.time() + budget
        delays = self.retry.delays()
        while True:
            if not self.breaker.allow():
                raise Unavailable(
                    f"model {self.model} at {self.url} keeps failing; not calling it for "
                    f"{self.breaker.retry_after_s():.1f}s (circuit open)"
                )
            started = False
            try:
                # aclosing: a caller that stops early closes every layer down to the gRPC call, at once.
                remaining = max(0.001, deadline - loop.time())
                async with contextlib.aclosing(self._attempt(prompt, params, remaining)) as pieces:
                    async for piece in pieces:
                        started = True
                        yield piece
            except ServerUnreachable:
                self.breaker.record_failure()
                delay = next(delays, None)
                if started or delay is None or loop.time() + delay >= deadline:
                    raise
                await asyncio.sleep(delay)
                continue
            except DeadlineExceeded as exc:
                # Only the model's own timeout says it is slow; a caller's short deadline says nothing of health.
                if caller_bound:
                    self.breaker.release()
                else:
                    self.breaker.record_failure()
                raise DeadlineExceeded(f"model {self.model} did not finish within {budget:.1f}s") from exc
            except ModelFailed:
                self.breaker.release()  # the model refused this request; the server itself answered
                raise
            except Unavailable:
                self.breaker.record_failure()
                raise
            except BaseException:  # the request was wrong, or the caller went away: says nothing of health
                self.breaker.release()
                raise
            self.breaker.record_success()
            return

    async def _attempt(self, prompt: str, params: Parameters, timeout_s: float) -> AsyncGenerator[Piece]:
        if not await self.decoupled():
            self.in_flight += 1
            try:
                result = await self._client.infer(
                    self.model, ensemble_inputs(prompt, params, stream=False), client_timeout=timeout_s
                )
            except InferenceServerException as exc:
                raise _translate(exc, self.url, timeout_s) from exc
            finally:
                self.in_flight -= 1
            yield read_piece(result)
            return
        async with contextlib.aclosing(self._stream_decoupled(prompt, params, timeout_s)) as pieces:
            async for piece in pieces:
                yield piece

    async def _stream_decoupled(self, prompt: str, params: Parameters, timeout_s: float) -> AsyncGenerator[Piece]:
        finished = asyncio.Event()
        request = stream_request(self.model, prompt, params)
        request.id = uuid.uuid4().hex
        # Ends every stream with an empty response flagged final, the only end marker a decoupled model sends
        # when its last piece is already out. tritonclient's aio API cannot set this flag, hence the raw stub.
        request.parameters["triton_enable_empty_final_response"].bool_param = True

        async def requests() -> AsyncIterator[service_pb2.ModelInferRequest]:
            yield request
            # Keep the request side open until the final response: closing it early ends the stream.
            await finished.wait()

        call = self._stream_stub.ModelStreamInfer(requests(), timeout=timeout_s)
        self.in_flight += 1
        completed = False
        try:
            async for response in call:
                if response.error_message:
                    raise ModelFailed(f"model {self.model} failed the request: {response.error_message}")
                piece = read_piece(triton.InferResult(response.infer_response))
                if piece.text or piece.log_probs or piece.metrics:
                    yield piece
                final = response.infer_response.parameters.get("triton_final_response")
                if final is not None and final.bool_param:
                    completed = True
                    break
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise DeadlineExceeded(f"the model did not finish within {timeout_s:.1f}s") from exc
            if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise FailedPrecondition(f"Triton at {self.url} rejected the request: {exc.details()}") from exc
            if code == grpc.StatusCode.UNAVAILABLE:
                raise ServerUnreachable(f"Triton at {self.url} is unavailable: {exc.details()}") from exc
            raise Unavailable(f"Triton at {self.url} failed the request ({code.name}): {exc.details()}") from exc
        finally:
            finished.set()  # ends the request side: a completed call closes by itself
            if not completed:
                call.cancel()  # the caller left early: stop Triton's work
            self.in_flight -= 1

    async def close(self) -> None:
        """Closes the gRPC channels."""
        await self._client.close()
        await self._channel.close()
