"""A real Ray cluster on this machine's loopback addresses, for the Ray engine's tests.

``ray start --head`` and ``ray start`` workers, each a node of its own on its own loopback
address (127.0.0.2, 127.0.0.3, ...: Ray takes 127.0.0.1 itself for "this machine" and rewrites it
to the network address, but uses any other loopback address as given, so every node and every
connection between them stays on ``lo``). Each ``ray start --block`` leads a process group of its
own, which holds the node's raylet and workers: killing the group is losing the node. The
cluster has its own temporary folder (short: Unix socket paths stop at 107 characters) and its
own authentication token, usage statistics are off, there is no dashboard, and ``stop`` leaves
no process behind.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")
LOOPBACK_HOSTS = ["127.0.0.0/8", "::1/128"]  # what a test marked ``loopback`` may connect to
STARTED = "Ray runtime started"


@dataclass
class Node:
    ip: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """The node is lost: its ``ray start``, raylet, object store and workers, at once."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)


def free_port(ip: str) -> int:
    with socket.socket() as probe:
        probe.bind((ip, 0))
        return int(probe.getsockname()[1])


class LoopbackCluster:
    """``LoopbackCluster(workers=2).start()``: a head on 127.0.0.2 and workers on 127.0.0.3...;
    ``address`` for ``--ray-address``, ``env`` (the token) for every process that joins it."""

    def __init__(self, workers: int = 2, cpus: int = 1, object_store_bytes: int = 100 * 2**20) -> None:
        self.worker_count, self.cpus, self.object_store_bytes = workers, cpus, object_store_bytes
        self.temp = Path(tempfile.mkdtemp(prefix="cxr-ray-", dir="/tmp"))
        self.port = 0
        self.env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32), "RAY_USAGE_STATS_ENABLED": "0"}
        self.head: Node | None = None
        self.workers: list[Node] = []

    @property
    def address(self) -> str:
        return f"127.0.0.2:{self.port}"

    def start(self, timeout: float = 90) -> LoopbackCluster:
        self.port = free_port("127.0.0.2")
        try:
            self.head = self._node("127.0.0.2", ["--head", f"--port={self.port}", "--include-dashboard=false",
                                                 f"--ray-client-server-port={free_port('127.0.0.2')}",
                                                 f"--temp-dir={self.temp}"], timeout)
            for k in range(self.worker_count):  # one at a time: nodes starting together race for socket names
                self.workers.append(self._node(f"127.0.0.{3 + k}", [f"--address={self.address}"], timeout))
        except BaseException:
            self.stop()
            raise
        return self

    def _node(self, ip: str, options: list[str], timeout: float) -> Node:
        log = self.temp / f"node-{ip}.log"
        command = [str(RAY), "start", "--block", f"--node-ip-address={ip}", f"--num-cpus={self.cpus}",
                   f"--object-store-memory={self.object_store_bytes}", "--disable-usage-stats", *options]
        with open(log, "wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                       env={**os.environ, **self.env}, cwd=self.temp)
        node = Node(ip, process, log)
        deadline = time.monotonic() + timeout
        while STARTED not in log.read_text(errors="replace"):
            if not node.alive or time.monotonic() > deadline:
                node.kill()
                raise RuntimeError(f"ray start for {ip} failed:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        return node

    def stop(self) -> None:
        """Every node's process group killed, the temporary folder removed."""
        for node in [*self.workers, *([self.head] if self.head else [])]:
            node.kill()
        shutil.rmtree(self.temp, ignore_errors=True)
