"""The floor for any Python service in front of Triton: `Inference.Generate`/`GenerateStream` that only forward.

No validation, routing, prompt rendering, accounting or error mapping: one grpc.aio server that renders the
ChatML prompt and calls Triton with the same client code as the inference service. `inference_overhead.py`
runs it beside the real service, so the table separates the cost of the extra gRPC hop from the platform's own.

    python bench/passthrough_server.py PORT TRITON_URL
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import grpc
import tritonclient.grpc.aio as triton
from tritonclient.grpc import service_pb2, service_pb2_grpc

from llmops.api.inference.v1 import inference_pb2 as pb
from llmops.api.inference.v1 import inference_pb2_grpc
from services.inference.adapters.triton import ensemble_inputs, read_piece, stream_request
from services.inference.core import CHATML_STOP, Message, Parameters, render_chatml

PARAMS = Parameters(max_tokens=32, stop_words=CHATML_STOP)


class Passthrough(inference_pb2_grpc.InferenceServicer):
    def __init__(self, triton_url: str) -> None:
        self.client = triton.InferenceServerClient(triton_url)
        self.stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.aio.insecure_channel(triton_url))

    @staticmethod
    def _prompt(request: pb.GenerateRequest) -> str:
        return render_chatml([Message(m.role, m.content) for m in request.messages.messages])

    async def Generate(self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext) -> pb.GenerateResponse:
        result = await self.client.infer("ensemble_unary", ensemble_inputs(self._prompt(request), PARAMS, stream=False))
        return pb.GenerateResponse(text=read_piece(result).text)

    async def GenerateStream(
        self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GenerateStreamResponse]:
        infer = stream_request("ensemble", self._prompt(request), PARAMS)
        done = asyncio.Event()

        async def requests() -> AsyncIterator[service_pb2.ModelInferRequest]:
            yield infer
            await done.wait()

        call = self.stub.ModelStreamInfer(requests())
        try:
            async for response in call:
                yield pb.GenerateStreamResponse(delta=read_piece(triton.InferResult(response.infer_response)).text)
        finally:
            done.set()
            call.cancel()


async def main(port: int, triton_url: str) -> None:
    server = grpc.aio.server()
    inference_pb2_grpc.add_InferenceServicer_to_server(Passthrough(triton_url), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
