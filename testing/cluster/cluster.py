"""Three authsvc hosts behind nginx, each in a network namespace of its own, on one
PostgreSQL database and one Redis database reached over the namespace network.

PostgreSQL and Redis listen on 127.0.0.1 only, so the root namespace forwards
each from the bridge address (testing/tcp_proxy.py). Cutting a forwarder is this
test's database or Redis outage: every connection of the hosts is reset and
new ones are refused, as a server going down would do, while the real servers
(shared with every other test on this machine) keep running.
"""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy.engine import make_url

from testing.live_server import BIN, ROOT
from testing.tcp_proxy import TcpProxy

from .topology import Topology

HOSTS = ("h1", "h2", "h3")
PROXY = "lb"
PORT = 8000
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NGINX_SITE = ROOT / "deploy" / "nginx" / "authsvc.conf"
SECRET_KEY = "cluster-test-secret-key-0123456789-abcdefghij"

NGINX_MAIN = """user root;
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {dir}/tmp;
    proxy_temp_path {dir}/tmp;
    fastcgi_temp_path {dir}/tmp;
    uwsgi_temp_path {dir}/tmp;
    scgi_temp_path {dir}/tmp;
    include {dir}/authsvc.conf;
    access_log {dir}/nginx-access.log authsvc_upstream;
}}
"""


def render_site(site, upstreams, listen):
    """The checked-in nginx site with the test's hosts and listen address put in."""
    lines, replaced = [], False
    for line in site.splitlines():
        server = re.match(r"(\s*)server\s+[\d.]+:\d+(\s.*)?;$", line)
        if server:
            if not replaced:
                options = (server.group(2) or "").rstrip()
                lines += [f"{server.group(1)}server {up}{options};" for up in upstreams]
                replaced = True
            continue
        lines.append(re.sub(r"^(\s*)listen 80;", rf"\g<1>listen {listen};", line))
    text = "\n".join(lines) + "\n"
    if not replaced or f"listen {listen};" not in text:
        raise ValueError("the nginx site lost its upstream servers or its listen line")
    return text


def wait_healthy(url, process=None, timeout=30.0):
    """Wait until `url` answers 200 (raise when `process` dies first or time runs out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy in {timeout:.0f} s")


class Cluster:
    """Build with `with Cluster(...) as cluster:`; everything is torn down on exit."""

    def __init__(self, workdir, database_url, redis_url, *, workers=2, env=None):
        self.workdir = Path(workdir)
        self.database_url = make_url(database_url)
        self.redis_url = make_url(redis_url)
        self.workers = workers
        self.extra_env = env or {}
        self.topology = Topology([*HOSTS, PROXY])
        self.database = self.redis = None
        self.hosts = {}  # name -> gunicorn process
        self.nginx = None

    def __enter__(self):
        self.topology.__enter__()
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    # --- addresses ------------------------------------------------------------
    def host_url(self, name):
        return f"http://{self.topology.addresses[name]}:{PORT}"

    @property
    def proxy_url(self):
        return f"http://{self.topology.addresses[PROXY]}"

    @property
    def host_urls(self):
        return [self.host_url(name) for name in HOSTS]

    def host_of(self, upstream):
        """The host name of an `address:port` from nginx's log."""
        for name in HOSTS:
            if upstream == f"{self.topology.addresses[name]}:{PORT}":
                return name
        return upstream

    # --- starting -------------------------------------------------------------
    def _start(self):
        gateway = self.topology.gateway
        self.database = TcpProxy(
            self.database_url.host, self.database_url.port or 5432, listen_host=gateway
        )
        self.redis = TcpProxy(self.redis_url.host, self.redis_url.port or 6379, listen_host=gateway)
        self.database.up()
        self.redis.up()
        with ThreadPoolExecutor(len(HOSTS)) as pool:
            list(pool.map(self.start_host, HOSTS))
        self._start_nginx()

    def host_env(self, name):
        database = self.database_url.set(host=self.topology.gateway, port=self.database.port)
        redis = self.redis_url.set(host=self.topology.gateway, port=self.redis.port)
        return {
            **os.environ,
            "APP_ENV": "testing",
            "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": database.render_as_string(hide_password=False),
            "RATELIMIT_ENABLED": "true",
            "RATELIMIT_STORAGE_URI": redis.render_as_string(hide_password=False),
            "TRUSTED_PROXIES": "1",
            "BCRYPT_LOG_ROUNDS": "4",
            "GUNICORN_BIND": f"{self.topology.addresses[name]}:{PORT}",
            "WEB_CONCURRENCY": str(self.workers),
            "GUNICORN_ACCESS_LOG": str(self.workdir / f"{name}-access.log"),
            "PROMETHEUS_MULTIPROC_DIR": str(self.workdir / f"{name}-metrics"),
            **self.extra_env,
        }

    def start_host(self, name):
        """Start (or restart) gunicorn on host `name`; return the seconds it took to serve."""
        started = time.monotonic()
        process = self.topology.spawn(
            name,
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
            self.workdir / f"{name}.log",
            cwd=ROOT,
            env=self.host_env(name),
        )
        self.hosts[name] = process
        wait_healthy(self.host_url(name) + "/health", process)
        return time.monotonic() - started

    def _start_nginx(self):
        (self.workdir / "tmp").mkdir(exist_ok=True)
        upstreams = [f"{self.topology.addresses[name]}:{PORT}" for name in HOSTS]
        site = render_site(
            NGINX_SITE.read_text(), upstreams, f"{self.topology.addresses[PROXY]}:80"
        )
        (self.workdir / "authsvc.conf").write_text(site)
        main = self.workdir / "nginx.conf"
        main.write_text(NGINX_MAIN.format(dir=self.workdir))
        self.nginx = self.topology.spawn(
            PROXY, [NGINX, "-p", str(self.workdir), "-c", str(main)], self.workdir / "nginx.log"
        )
        wait_healthy(self.proxy_url + "/health", self.nginx)

    # --- faults ---------------------------------------------------------------
    def kill_host(self, name):
        """kill -9 the host's gunicorn master and every worker."""
        process = self.hosts[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def close(self):
        for process in [*self.hosts.values(), self.nginx]:
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in [*self.hosts.values(), self.nginx]:
            if process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=15)  # the topology kills what is left
        self.topology.close()
        for forwarder in (self.database, self.redis):
            if forwarder is not None:
                forwarder.close()
