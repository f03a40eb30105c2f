"""A TCP proxy a test can take down: it forwards, refuses, or accepts and stays silent.

Put it between the app and PostgreSQL to make the database unreachable (and a
host that swallows packets) on demand, then bring it back on the same port.
"""

import contextlib
import socket
import struct
import threading

from testing.live_server import free_port

FORWARD, SILENT = "forward", "silent"


class TcpProxy:
    def __init__(self, target_host, target_port, listen_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.host = listen_host
        self.port = free_port(listen_host)
        self.mode = None
        self.listener = None
        self.accepting = None
        self.acceptor = None
        self.sockets = set()
        self.lock = threading.Lock()

    def up(self):
        """Forward every connection to the target."""
        self._listen(FORWARD)

    def silent(self):
        """Cut every connection, then accept new ones and never answer (a dead host)."""
        self._listen(SILENT)

    def down(self):
        """Cut every connection and refuse new ones."""
        self._stop_listening()
        self._cut_all()

    close = down

    def _listen(self, mode):
        self.down()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self.mode, self.listener = mode, listener
        self.accepting = threading.Event()
        self.accepting.set()
        self.acceptor = threading.Thread(
            target=self._accept, args=(listener, self.accepting), daemon=True
        )
        self.acceptor.start()

    def _stop_listening(self):
        if self.listener is not None:
            self.accepting.clear()
            # The port is free only once the acceptor's pending accept() returns.
            self.acceptor.join(timeout=5)
            self.listener.close()
            self.listener = None

    def _accept(self, listener, accepting):
        while accepting.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            self._track(client)
            if self.mode == FORWARD:
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    self._reset(client)
                    continue
                upstream.settimeout(None)
                self._track(upstream)
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink):
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def _track(self, sock):
        with self.lock:
            self.sockets.add(sock)

    @staticmethod
    def _reset(sock):
        """Close with an RST, as a crashed peer would."""
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def _cut_all(self):
        with self.lock:
            sockets, self.sockets = self.sockets, set()
        for sock in sockets:
            self._reset(sock)
