"""Rebuilding a grpc.aio method handler around wrapped behaviour: what every server interceptor here does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

Behaviour = Callable[..., Any]
"""A handler's behaviour: `(request or request iterator, context)` → response, or an async iterator of them."""


def same_kind(
    handler: grpc.RpcMethodHandler,
    unary: Callable[[Behaviour], Behaviour],
    stream: Callable[[Behaviour], Behaviour],
    *,
    deserialize: bool = True,
) -> grpc.RpcMethodHandler:
    """A handler of `handler`'s kind whose behaviour is `unary(behaviour)` for the single-response kinds and
    `stream(behaviour)` for the streaming-response kinds. `deserialize=False` leaves requests as raw bytes (a
    refusal need not parse what it refuses)."""
    deserializer = handler.request_deserializer if deserialize else None
    serializer = handler.response_serializer
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            unary(handler.unary_unary), request_deserializer=deserializer, response_serializer=serializer
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            stream(handler.unary_stream), request_deserializer=deserializer, response_serializer=serializer
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            unary(handler.stream_unary), request_deserializer=deserializer, response_serializer=serializer
        )
    return grpc.stream_stream_rpc_method_handler(
        stream(handler.stream_stream), request_deserializer=deserializer, response_serializer=serializer
    )
