"""Three authsvc hosts behind nginx, each in a network namespace of its own, on one
PostgreSQL database and one Redis database reached over the namespace network;
the example resource server in a namespace of its own, verifying tokens with the
key set and by introspection, both through nginx; an SMTP server that every
host's mail sender delivers to.

PostgreSQL and Redis listen on 127.0.0.1 only, so the root namespace forwards
each from the bridge address (testing/tcp_proxy.py). Cutting a forwarder is this
test's database or Redis outage: every connection of the hosts is reset and
new ones are refused, as a server going down would do, while the real servers
(shared with every other test on this machine) keep running. The SMTP server
(testing/smtp_sink.py) listens on the bridge address in the root namespace too.
"""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy.engine import make_url

from testing.live_server import BIN, ROOT
from testing.smtp_sink import SmtpSink
from testing.tcp_proxy import TcpProxy

from .topology import Topology

HOSTS = ("h1", "h2", "h3")
PROXY = "lb"
RESOURCE = "rs"
PORT = 8000
RESOURCE_PORT = 5001
# A mail claimed by a host that dies is due again after the lease (120 s by
# default); shorter here, so that the run's mail has drained soon after its load.
MAIL_LEASE_SECONDS = 20
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


def wait_healthy(url, process=None, timeout=30.0, status=200):
    """Wait until `url` answers `status` (raise when `process` dies first or time runs out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == status:
                    return
        except urllib.error.HTTPError as error:
            if error.code == status:
                return
            time.sleep(0.1)
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy in {timeout:.0f} s")


class Cluster:
    """Build with `with Cluster(...) as cluster:`; everything is torn down on exit."""

    def __init__(self, workdir, database_url, redis_url, *, workers=2, keys_refresh=30.0, env=None):
        self.workdir = Path(workdir)
        self.database_url = make_url(database_url)
        self.redis_url = make_url(redis_url)
        self.workers = workers
        self.keys_refresh = keys_refresh  # the hosts' KEYS_REFRESH_SECONDS
        self.extra_env = env or {}
        self.topology = Topology([*HOSTS, PROXY, RESOURCE])
        self.database = self.redis = self.smtp = None
        self.hosts = {}  # name -> gunicorn process
        self.nginx = self.resource = None
        self.introspection_client = None  # (client_id, client_secret) of the resource server

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
    def resource_url(self):
        return f"http://{self.topology.addresses[RESOURCE]}:{RESOURCE_PORT}"

    @property
    def host_urls(self):
        return [self.host_url(name) for name in HOSTS]

    def host_of(self, upstream):
        """The host name of an `address:port` from nginx's log, or of a bare address."""
        for name in HOSTS:
            if upstream in (
                self.topology.addresses[name],
                f"{self.topology.addresses[name]}:{PORT}",
            ):
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
        self.smtp = SmtpSink(hostname=gateway).start()
        with ThreadPoolExecutor(len(HOSTS)) as pool:
            list(pool.map(self.start_host, HOSTS))
        self._start_nginx()
        self._start_resource_server()

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
            "JWT_ISSUER": self.proxy_url,  # the public URL: the resource server checks `iss`
            "KEYS_REFRESH_SECONDS": f"{self.keys_refresh:g}",
            "MAIL_BACKEND": "smtp",
            "SMTP_HOST": self.topology.gateway,
            "SMTP_PORT": str(self.smtp.port),
            "SMTP_SECURITY": "none",
            "MAIL_LEASE_SECONDS": str(MAIL_LEASE_SECONDS),
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

    def _start_resource_server(self):
        """examples/resource_server.py under gunicorn, with an introspection client of its own."""
        created = self.flask(HOSTS[0], "clients", "create", "cluster-resource-server")
        credentials = dict(line.split(": ", 1) for line in created.splitlines() if ": " in line)
        self.introspection_client = (credentials["client_id"], credentials["client_secret"])
        env = {
            **os.environ,
            "AUTHSVC_ISSUER": self.proxy_url,
            "AUTHSVC_CLIENT_ID": credentials["client_id"],
            "AUTHSVC_CLIENT_SECRET": credentials["client_secret"],
        }
        bind = f"{self.topology.addresses[RESOURCE]}:{RESOURCE_PORT}"
        self.resource = self.topology.spawn(
            RESOURCE,
            [str(BIN / "gunicorn"), "--bind", bind, "--workers", "2", "--threads", "4"]
            + ["examples.resource_server:app"],
            self.workdir / "resource-server.log",
            cwd=ROOT,
            env=env,
        )
        wait_healthy(self.resource_url + "/orders", self.resource, status=401)

    def flask(self, name, *args, timeout=60):
        """The `flask` command run on host `name` (its namespace, its environment); its output."""
        done = subprocess.run(
            self.topology.command(name, [str(BIN / "flask"), *args]),
            cwd=ROOT,
            env={**self.host_env(name), "FLASK_APP": "wsgi"},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode:
            raise RuntimeError(f"flask {' '.join(args)} on {name}: {done.stderr[-2000:]}")
        return done.stdout

    # --- faults ---------------------------------------------------------------
    def kill_host(self, name):
        """kill -9 the host's gunicorn master and every worker."""
        process = self.hosts[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def rotate_keys(self, name):
        """`flask keys rotate` on host `name`; the (old, new) kid of the current key."""
        printed = dict(
            line.split(":", 1) for line in self.flask(name, "keys", "rotate").splitlines()
        )
        return printed["previous"].strip(), printed["current"].strip()

    def close(self):
        processes = [*self.hosts.values(), self.nginx, self.resource]
        for process in processes:
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            if process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=15)  # the topology kills what is left
        self.topology.close()
        for forwarder in (self.database, self.redis):
            if forwarder is not None:
                forwarder.close()
        if self.smtp is not None:
            self.smtp.stop()
