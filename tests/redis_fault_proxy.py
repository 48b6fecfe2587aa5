"""A TCP proxy in front of a test Redis that loses one reply: the fault "Redis did it, the answer never came".

``lose_reply_after(pattern, written)``: the first request whose bytes contain ``pattern`` and after which
``written()`` is true (checked on a direct connection, so it is the data, not the command's spelling, that
decides) has its reply held back and dropped with every connection; then new connections are refused for
``down_seconds`` (Redis "down"), after which the proxy forwards as before. A request that matches but wrote
nothing (say a script Redis did not know yet) has its reply passed on, and the proxy keeps watching.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable


class _Pair:
    """A client connection and its upstream one; replies are held while a request is being judged."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client, self.upstream = client, upstream
        self.lock = threading.Lock()
        self.holding = False
        self.held: list[bytes] = []

    def close(self) -> None:
        for s in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


class RedisFaultProxy:
    def __init__(self, target_port: int, down_seconds: float = 3.0) -> None:
        self.target = ("127.0.0.1", target_port)
        self.down_seconds = down_seconds
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.pairs: list[_Pair] = []
        self.lock = threading.Lock()
        self.pattern: bytes | None = None
        self.written: Callable[[], bool] = lambda: False
        self.down_until = 0.0
        self.lost = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def lose_reply_after(self, pattern: bytes, written: Callable[[], bool]) -> None:
        self.pattern, self.written = pattern, written

    def _drop_all(self) -> None:
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            pair.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            if time.time() < self.down_until:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            pair = _Pair(client, upstream)
            with self.lock:
                self.pairs.append(pair)
            threading.Thread(target=self._requests, args=(pair,), daemon=True).start()
            threading.Thread(target=self._replies, args=(pair,), daemon=True).start()

    def _requests(self, pair: _Pair) -> None:
        try:
            while data := pair.client.recv(65536):
                judge = self.pattern is not None and self.pattern in data
                if judge:
                    with pair.lock:
                        pair.holding = True
                pair.upstream.sendall(data)
                if not judge:
                    continue
                time.sleep(0.3)  # Redis acts
                if self.written():
                    self.pattern, self.lost = None, self.lost + 1
                    self.down_until = time.time() + self.down_seconds
                    self._drop_all()  # its answer is lost, and Redis is unreachable for a while
                    return
                with pair.lock:
                    pair.holding = False
                    held, pair.held = pair.held, []
                for chunk in held:
                    pair.client.sendall(chunk)
        except OSError:
            pass
        finally:
            pair.close()

    def _replies(self, pair: _Pair) -> None:
        try:
            while data := pair.upstream.recv(65536):
                with pair.lock:
                    if pair.holding:
                        pair.held.append(data)
                        continue
                pair.client.sendall(data)
        except OSError:
            pass
        finally:
            pair.close()

    def close(self) -> None:
        self.sock.close()
        self._drop_all()
