"""The embedded platform: `nats-server`, Triton and every service as its own process, on fixed local ports.

`llmops dev` runs it for people; the end-to-end tests run the very same stack (with the deterministic test
model), so what the tests prove is what a newcomer gets.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from llmops.testing.servers import NatsServer, TritonServer, free_port

SERVICES = ("ingestion", "embedding", "retrieval", "inference", "guardrails", "feedback", "audit", "gateway")
PROCESSES: dict[str, tuple[str, ...]] = {
    # Qdrant local mode allows one process per storage path: embedding and retrieval share one.
    "embedding+retrieval": ("embedding", "retrieval"),
    **{name: (name,) for name in ("ingestion", "inference", "guardrails", "feedback", "audit", "gateway")},
}
"""The stack's processes and the services each runs."""


@dataclass
class Endpoints:
    """Where each part of a running stack listens."""

    nats: str
    triton: str
    grpc: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=dict)
    """Prometheus endpoint of each process."""

    def save(self, path: Path) -> None:
        """Writes the endpoints for the CLI's client commands to find."""
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> Endpoints:
        """Reads endpoints written by a running `llmops dev`."""
        data = json.loads(path.read_text())
        return cls(
            nats=data["nats"], triton=data["triton"], grpc=dict(data["grpc"]), metrics=dict(data.get("metrics", {}))
        )


@dataclass(frozen=True)
class StackPorts:
    """Ports of the embedded stack; `dev` uses fixed defaults, tests use free ones."""

    nats: int = 4233
    triton_grpc: int = 18001
    triton_http: int = 18000
    triton_metrics: int = 18002
    services: dict[str, int] = field(
        default_factory=lambda: {
            "gateway": 50051,
            "ingestion": 50052,
            "embedding": 50053,
            "retrieval": 50054,
            "inference": 50055,
            "guardrails": 50056,
            "feedback": 50057,
            "audit": 50058,
        }
    )
    metrics: dict[str, int] = field(default_factory=lambda: {process: 19460 + n for n, process in enumerate(PROCESSES)})
    """`/metrics` port of each process."""

    @classmethod
    def free(cls) -> StackPorts:
        """Ports nothing listens on, for a stack beside another one."""
        return cls(
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            {name: free_port() for name in SERVICES},
            {process: free_port() for process in PROCESSES},
        )


class Stack:
    """Starts and stops the embedded platform."""

    def __init__(
        self,
        data_dir: Path,
        *,
        model: str = "llama",
        ports: StackPorts | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.extra_env = extra_env or {}
        self.data_dir = data_dir.resolve()
        self.model = model
        self.ports = ports or StackPorts()
        self.log_dir = self.data_dir / "logs"
        self.nats: NatsServer | None = None
        self.triton: TritonServer | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def endpoints(self) -> Endpoints:
        """Where everything listens."""
        return Endpoints(
            nats=f"nats://127.0.0.1:{self.ports.nats}",
            triton=f"127.0.0.1:{self.ports.triton_grpc}",
            grpc={name: f"127.0.0.1:{port}" for name, port in self.ports.services.items()},
            metrics={process: f"http://127.0.0.1:{port}/metrics" for process, port in self.ports.metrics.items()},
        )

    def _environment(self) -> dict[str, str]:
        e = self.endpoints
        env = {
            **os.environ,
            "LLMOPS_NATS_URL": e.nats,
            "LLMOPS_DATA_DIR": str(self.data_dir),
            "LLMOPS_LOG_FORMAT": "json",
            "LLMOPS_RETRIEVAL_EMBEDDING_URL": e.grpc["embedding"],
            "LLMOPS_INFERENCE_TRITON_URL": e.triton,
            "LLMOPS_GATEWAY_RETRIEVAL_URL": e.grpc["retrieval"],
            "LLMOPS_GATEWAY_INFERENCE_URL": e.grpc["inference"],
            "LLMOPS_GATEWAY_EMBEDDING_URL": e.grpc["embedding"],
            "LLMOPS_GATEWAY_GUARDRAILS_URL": e.grpc["guardrails"],
            "LLMOPS_GUARDRAILS_EMBEDDING_URL": e.grpc["embedding"],
            "LLMOPS_FEEDBACK_GATEWAY_URL": e.grpc["gateway"],
            "LLMOPS_FEEDBACK_EMBEDDING_URL": e.grpc["embedding"],
            "LLMOPS_FEEDBACK_INFERENCE_URL": e.grpc["inference"],
            "HF_HUB_OFFLINE": "1",
            **self.extra_env,
        }
        for name, port in self.ports.services.items():
            env[f"LLMOPS_{name.upper()}_GRPC__PORT"] = str(port)
        if self.model == "llama":
            from llmops.triton_local.backends import smollm2_path

            env["LLMOPS_INFERENCE_TOKENIZER_GGUF"] = str(smollm2_path())
            env.setdefault("LLMOPS_INFERENCE_REPETITION_PENALTY", "1.15")
        else:
            env["LLMOPS_INFERENCE_SERVED_MODEL"] = "extractive-test-model"
        return env

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        env = {**env, "LLMOPS_TELEMETRY_METRICS_PORT": str(self.ports.metrics[name])}
        with (self.log_dir / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    def start(self, timeout_s: float = 180.0) -> Endpoints:
        """Starts NATS and Triton, then every service, and waits until each reports SERVING."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.nats = NatsServer(self.data_dir / "nats", self.ports.nats)
        self.nats.start()
        self.triton = TritonServer(
            self.model,
            grpc_port=self.ports.triton_grpc,
            http_port=self.ports.triton_http,
            metrics_port=self.ports.triton_metrics,
            log_path=self.log_dir / "triton.log",
        )
        self.triton.start(timeout_s)
        env = self._environment()
        cli = [sys.executable, "-m", "llmops.cli.main", "serve"]
        for process, services in PROCESSES.items():
            self._spawn(process, [*cli, *services], env)
        self.wait_serving(timeout_s)
        return self.endpoints

    def kill(self, process: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Sends `sig` to one of the stack's processes (fault tests) and waits for it to exit."""
        running = self.processes[process]
        os.killpg(running.pid, sig)
        running.wait(30)

    def restart(self, process: str, timeout_s: float = 180.0) -> None:
        """Starts one of the stack's processes again (after `kill`) and waits until the stack is serving."""
        if self.processes[process].poll() is None:
            raise RuntimeError(f"{process} is still running")
        cli = [sys.executable, "-m", "llmops.cli.main", "serve", *PROCESSES[process]]
        self._spawn(process, cli, self._environment())
        self.wait_serving(timeout_s)

    def wait_serving(self, timeout_s: float) -> None:
        """Blocks until every service answers its gRPC health check with SERVING."""
        deadline = time.monotonic() + timeout_s
        pending = dict(self.endpoints.grpc)
        while pending:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    log = (self.log_dir / f"{name}.log").read_text()[-3000:]
                    raise RuntimeError(f"{name} exited with {process.returncode}:\n{log}")
            for name, address in list(pending.items()):
                if health_check(address):
                    del pending[name]
            if time.monotonic() > deadline:
                raise TimeoutError(f"not serving after {timeout_s}s: {', '.join(pending)}; logs in {self.log_dir}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stops the services, then Triton and NATS; data stays in the data directory."""
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()
        if self.triton:
            self.triton.stop()
        if self.nats:
            self.nats.stop()

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def health_check(address: str, service: str = "", timeout_s: float = 1.0) -> bool:
    """Whether a gRPC server reports SERVING for a service ("" = the whole server)."""
    try:
        with grpc.insecure_channel(address) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s
            )
    except grpc.RpcError:
        return False
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)
