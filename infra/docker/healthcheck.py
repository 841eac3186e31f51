"""Container health check: asks the service's own gRPC health endpoint (grpc.health.v1) for SERVING."""

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

PORTS = {
    "gateway": 50051,
    "ingestion": 50052,
    "embedding": 50053,
    "retrieval": 50054,
    "inference": 50055,
    "guardrails": 50056,
    "feedback": 50057,
    "audit": 50058,
}


def main() -> int:
    """Exit 0 when the server reports SERVING, 1 otherwise."""
    address = sys.argv[1] if len(sys.argv) > 1 else f"127.0.0.1:{PORTS[os.environ.get('SERVICE', 'gateway')]}"
    try:
        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
    except grpc.RpcError:
        return 1
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
