"""A private network of Linux network namespaces for a multi-host test.

One bridge in the root namespace (which keeps an address on it, for the
forwarders to PostgreSQL and Redis and for the test's own checks), one
namespace per role with a veth pair into the bridge, and a range of client
addresses routed to the client namespace (AnyIP: every address of the range is
local there, so each virtual user can come from an address of its own).

Names carry a random run id, so concurrent runs never collide; `close()`
kills what runs inside the namespaces and deletes them and the bridge, and
runs at exit too when a test dies before its own cleanup.
"""

import atexit
import contextlib
import ipaddress
import os
import random
import secrets
import shutil
import signal
import subprocess

IP = shutil.which("ip") or "/usr/sbin/ip"
CLIENT_ROLE = "client"


def client_address(network, index):
    """The `index`-th address of a client range (skipping .0 and .255 of each /24)."""
    block, offset = divmod(index, 254)
    return str(network.network_address + block * 256 + offset + 1)


class NamespacesUnavailable(RuntimeError):
    """This machine cannot make network namespaces (not root, no `ip`, a locked-down kernel)."""


def _ip(*args, namespace=None, check=True):
    command = [IP, *(("-n", namespace) if namespace else ()), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=20)
    if check and result.returncode:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip()}")
    return result


def _networks_in_use():
    out = _ip("-4", "route", "show", "table", "all").stdout + _ip("-4", "addr").stdout
    nets = []
    for word in out.split():
        try:
            nets.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            continue
    return nets


def _free_network(candidates, in_use):
    for net in candidates:
        if not any(net.overlaps(used) for used in in_use):
            return net
    raise NamespacesUnavailable("no free private address range")


class Topology:
    """Namespaces `roles` (plus `client`) on one bridge; use as a context manager."""

    def __init__(self, roles):
        self.run_id = secrets.token_hex(3)
        self.roles = [*roles, CLIENT_ROLE]
        self.bridge = f"asb{self.run_id}"
        self.namespaces = {role: f"authsvc-{self.run_id}-{role}" for role in self.roles}
        self.addresses = {}
        self.gateway = None
        self.client_network = None
        self.processes = []
        self.built = []  # what exists, in creation order, for close()

    # --- building -------------------------------------------------------------
    def __enter__(self):
        if os.geteuid() != 0:
            raise NamespacesUnavailable("network namespaces need root")
        if not os.path.exists(IP):
            raise NamespacesUnavailable("iproute2's `ip` is not installed")
        atexit.register(self.close)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def _build(self):
        in_use = _networks_in_use()
        rng = random.Random(self.run_id)
        subnet = _free_network(
            (
                ipaddress.ip_network(f"10.{rng.randrange(200, 250)}.{rng.randrange(256)}.0/24")
                for _ in range(50)
            ),
            in_use,
        )
        self.client_network = _free_network(
            (ipaddress.ip_network(f"100.{rng.randrange(64, 128)}.0.0/16") for _ in range(50)),
            in_use,
        )
        hosts = subnet.hosts()
        self.gateway = str(next(hosts))
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
        except RuntimeError as exc:
            raise NamespacesUnavailable(f"cannot make a bridge: {exc}") from exc
        self.built.append(("bridge", self.bridge))
        _ip("addr", "add", f"{self.gateway}/{subnet.prefixlen}", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for index, role in enumerate(self.roles):
            namespace, veth = self.namespaces[role], f"as{self.run_id}{index}"
            try:
                _ip("netns", "add", namespace)
            except RuntimeError as exc:
                raise NamespacesUnavailable(f"cannot make a namespace: {exc}") from exc
            self.built.append(("netns", namespace))
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            _ip("link", "set", veth, "master", self.bridge, "up")
            address = str(next(hosts))
            self.addresses[role] = address
            _ip("addr", "add", f"{address}/{subnet.prefixlen}", "dev", "eth0", namespace=namespace)
            _ip("link", "set", "eth0", "up", namespace=namespace)
            _ip("link", "set", "lo", "up", namespace=namespace)
        # Every address of the client range is local to the client namespace...
        client = self.namespaces[CLIENT_ROLE]
        _ip("route", "add", "local", str(self.client_network), "dev", "lo", namespace=client)
        # ...and every other namespace (and the root's bridge) answers it through the client.
        for role in self.roles:
            if role != CLIENT_ROLE:
                _ip(
                    "route",
                    "add",
                    str(self.client_network),
                    "via",
                    self.addresses[CLIENT_ROLE],
                    namespace=self.namespaces[role],
                )

    # --- using ----------------------------------------------------------------
    def command(self, role, argv):
        """`argv` run inside `role`'s namespace."""
        return [IP, "netns", "exec", self.namespaces[role], *argv]

    def spawn(self, role, argv, log_path=None, **popen_args):
        """Start `argv` in `role`'s namespace, in a process group of its own."""
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            process = subprocess.Popen(
                self.command(role, argv),
                stdout=log,
                stderr=log,
                start_new_session=True,
                **popen_args,
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        self.processes.append(process)
        return process

    # --- tearing down ---------------------------------------------------------
    def close(self):
        """Kill every process started here (and any left inside the namespaces), delete all."""
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes = []
        for kind, name in reversed(self.built):
            if kind == "netns":
                pids = _ip("netns", "pids", name, check=False).stdout.split()
                for pid in pids:  # only ever processes this run put in its own namespace
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(pid), signal.SIGKILL)
                _ip("netns", "del", name, check=False)  # takes its end of the veth along
            else:
                _ip("link", "del", name, check=False)
        self.built = []
        atexit.unregister(self.close)
