"""Which key each host signs with, around a `flask keys rotate` (run in the client namespace):

    ip netns exec NS python -m testing.cluster.keyprobe SETTINGS.json RESULT.json

One session per host, started on that host directly (not through the proxy).
Every PROBE_INTERVAL each host refreshes its session, from a fresh client
address (the refresh limit counts per address), and the `kid` of the access
token it mints says which key that host's worker signed with. The probe writes
the ready file once every host has a session; the test process then rotates
and writes the rotation file (old kid, new kid, when). The probe stops once
every host has signed with the new key several times in a row after every
worker's keyring was due for a reload (`refresh_seconds` after the rotation),
or when `limit_seconds` have passed since the rotation.

`measure_rotation` is the test process's side: it starts the probe, rotates on
one host (`flask keys rotate` in that host's namespace, with its environment)
and reads, for each host, when it switched.
"""

import ipaddress
import itertools
import json
import os
import sys
import time
import uuid

import jwt as pyjwt

from testing.cluster.topology import client_address
from testing.live_server import ROOT
from testing.load.client import CONNECTION_ERRORS, REFRESH, REGISTER, ApiClient

PASSWORD = "cluster-probe-Passw0rd-long-enough"
PROBE_INTERVAL = 0.25  # seconds between two rounds of refreshes (one per host)
IN_A_ROW = 4  # new-key tokens in a row from a host that count as "switched"
FIRST_ADDRESS = 50_000  # client addresses from here on: far from the workload's


def post(url, source, path, body):
    client = ApiClient(url, timeout=10, user_agent="authsvc-keyprobe", source=source)
    try:
        return client.request("POST", path, body)
    finally:
        client.close()


def main(argv=None):
    settings_path, result_path = (argv or sys.argv[1:])[:2]
    with open(settings_path) as settings_file:
        settings = json.load(settings_file)
    network = ipaddress.ip_network(settings["client_network"])
    addresses = (client_address(network, i) for i in itertools.count(FIRST_ADDRESS))
    hosts = settings["hosts"]  # name -> URL
    refresh_tokens, registered = {}, []

    def start_session(name):
        user = f"k{uuid.uuid4().hex[:16]}"
        body = {"email": f"{user}@example.com", "username": user, "password": PASSWORD}
        reply = post(hosts[name], next(addresses), REGISTER, body)
        if reply.status != 201:
            raise SystemExit(f"cannot start a session on {name}: {reply.status} {reply.body!r}")
        refresh_tokens[name] = reply.json()["refresh_token"]
        registered.append(user)

    for name in hosts:
        start_session(name)
    with open(settings["ready_file"], "w") as ready:
        ready.write("ready\n")

    probes = []  # [wall time, host, kid or None, status]
    rotation, started = None, time.monotonic()
    while True:
        for name, url in hosts.items():
            try:
                reply = post(url, next(addresses), REFRESH, {"refresh_token": refresh_tokens[name]})
            except CONNECTION_ERRORS:
                probes.append([time.time(), name, None, 0])
                continue
            signed_by = None
            if reply.status == 200:
                pair = reply.json()
                refresh_tokens[name] = pair["refresh_token"]
                signed_by = pyjwt.get_unverified_header(pair["access_token"]).get("kid")
            probes.append([time.time(), name, signed_by, reply.status])
            if reply.status == 401:  # a lost reply left a used refresh token: start over
                start_session(name)
        if rotation is None and os.path.exists(settings["rotation_file"]):
            with open(settings["rotation_file"]) as rotation_file:
                rotation = json.load(rotation_file)
        if rotation is not None:
            since = time.time() - rotation["at"]
            if since > settings["limit_seconds"] or (
                since > settings["refresh_seconds"] + 1 and switched(probes, hosts, rotation)
            ):
                break
        elif time.monotonic() - started > 120:
            raise SystemExit("the rotation never came")
        time.sleep(PROBE_INTERVAL)
    with open(result_path, "w") as result_file:
        json.dump({"probes": probes, "rotation": rotation, "registered": registered}, result_file)
    return 0


def switched(probes, hosts, rotation):
    """Every host's last IN_A_ROW tokens were signed with the new key."""
    for name in hosts:
        kids = [p[2] for p in probes if p[1] == name and p[2] is not None][-IN_A_ROW:]
        if len(kids) < IN_A_ROW or any(kid != rotation["new"] for kid in kids):
            return False
    return True


def measure_rotation(cluster, workdir, limit_seconds, host="h1"):
    """Rotate the keys on `host` during the load; when each host switched, in seconds."""
    ready, rotation_file = workdir / "keyprobe-ready", workdir / "keyprobe-rotation.json"
    settings = {
        "hosts": {name: cluster.host_url(name) for name in cluster.hosts},
        "client_network": str(cluster.topology.client_network),
        "ready_file": str(ready),
        "rotation_file": str(rotation_file),
        "refresh_seconds": cluster.keys_refresh,
        "limit_seconds": limit_seconds,
    }
    settings_path, result_path = workdir / "keyprobe.json", workdir / "keyprobe-result.json"
    settings_path.write_text(json.dumps(settings))
    probe = cluster.topology.spawn(
        "client",
        [sys.executable, "-m", "testing.cluster.keyprobe", str(settings_path), str(result_path)],
        workdir / "keyprobe.log",
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if probe.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the key probe did not start: see keyprobe.log")
            time.sleep(0.1)
        started = time.time()
        old, new = cluster.rotate_keys(host)
        rotated = time.time()
        rotation_file.write_text(json.dumps({"old": old, "new": new, "at": rotated}))
        probe.wait(timeout=limit_seconds + 60)
    finally:
        if probe.poll() is None:
            probe.kill()
    if probe.returncode != 0:
        raise RuntimeError(f"the key probe exited with {probe.returncode}: see keyprobe.log")
    found = json.loads(result_path.read_text())
    return {
        "started": started,
        "command seconds": rotated - started,
        "old": old,
        "new": new,
        "registered": found["registered"],
        **switch_times(found["probes"], settings["hosts"], old, new, rotated, limit_seconds),
    }


def switch_times(probes, hosts, old, new, rotated, limit_seconds):
    """For each host: seconds from the rotation to its first new-key token after its last
    old-key one; the probes counted; failures (a host late, or signing with a third key)."""
    switched, last_old, failures = {}, {}, []
    for name in hosts:
        mine = [p for p in probes if p[1] == name and p[2] is not None]
        olds = [p[0] for p in mine if p[2] == old and p[0] >= rotated]
        after = [p[0] for p in mine if p[2] == new and p[0] > max(olds, default=rotated)]
        strangers = {p[2] for p in mine} - {old, new}
        if strangers:
            failures.append(f"{name} signed with a key neither old nor new: {strangers}")
        last_old[name] = max(olds, default=rotated) - rotated
        if not after or after[0] - rotated > limit_seconds:
            failures.append(f"{name} did not sign with the new key within {limit_seconds:.0f} s")
            continue
        switched[name] = after[0] - rotated
    return {
        "switched": switched,
        "last old": last_old,
        "probes": len(probes),
        "probe failures": sum(1 for p in probes if p[3] != 200),
        "failures": failures,
    }


if __name__ == "__main__":
    sys.exit(main())
