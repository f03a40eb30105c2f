"""Judge every request of a cluster run against the fault timeline and print one table.

A request's outcome is `ok` (the status its step expects), `503` (a problem+json
503 while PostgreSQL was unreachable: the clean refusal the service promises;
the resource server's too, for a token it must introspect), `cut` (nginx's 502
for a request in flight on the host that was killed: the proxy may not resend
a POST that reached a host; the resource server's 503 when that request was its
introspection) or an error: anything else, including a 503 or 502 outside its
fault's window, and any refusal of a valid token by the resource server's
offline check (it never needs authsvc).
"""

import re
from collections import Counter, defaultdict

from testing.load.workload import percentile

KINDS = (
    "register",
    "forgot",
    "login",
    "me",
    "refresh",
    "logout",
    "logout-all",
    "introspect",
    "sessions",
    "rs-offline",
    "rs-introspect",
    "rs-ended",
    "verify-login",
    "verify-me",
    "limit-login",
)
NGINX_LINE = re.compile(
    r'^(?P<addr>\S+) \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+)[^"]*" (?P<status>\d+) '
    r"(?P<seconds>\S+) upstream=(?P<upstream>.*) upstream_status=(?P<ustatus>.*) id=\S*$"
)


def classify(event, faults):
    when, kind, status, _ms, expected, problem = event[:6]
    if status == expected or (expected is None and status in (200, 429)):
        return "ok"
    if kind == "rs-offline" or not problem:
        return "error"
    for fault in faults:
        if fault.start <= when <= fault.end + fault.grace:
            if fault.kind == "database" and status == 503:
                return "503"
            if fault.kind == "kill" and status in (
                (503,) if kind.startswith("rs-") else (502, 504)
            ):
                return "cut"
    return "error"


def nginx_lines(path):
    for line in path.read_text(errors="replace").splitlines():
        match = NGINX_LINE.match(line)
        if match:
            yield match


def host_share(cluster, workdir):
    """Which host served each proxied client request (the last upstream nginx tried)."""
    client_prefix = str(cluster.topology.client_network.network_address).rsplit(".", 2)[0] + "."
    served = Counter()
    for match in nginx_lines(workdir / "nginx-access.log"):
        if match["addr"].startswith(client_prefix):
            served[cluster.host_of(match["upstream"].split(",")[-1].strip())] += 1
    return served


def limit_hosts(cluster, workdir, address):
    """The hosts that answered the login attempts from the limit check's one address."""
    return {
        cluster.host_of(m["upstream"].split(",")[-1].strip())
        for m in nginx_lines(workdir / "nginx-access.log")
        if m["addr"] == address and m["path"].endswith("/login")
    }


def judge(outcome, cluster, workdir):
    """Classify, check what must hold, and return the table (failures go to `outcome`)."""
    result, faults = outcome.result, outcome.faults
    t0 = result["t0"]
    rows = defaultdict(Counter)
    latencies = defaultdict(list)
    samples = []
    for event in result["events"]:
        verdict = classify(event, faults)
        rows[event[1]][verdict] += 1
        if verdict == "ok":
            latencies[event[1]].append(event[3])
        elif verdict == "error" and len(samples) < 10:
            samples.append(f"error: {event[1]} answered {event[2]} at +{event[0] - t0:.1f} s")
    errors = sum(row["error"] for row in rows.values())
    if errors:
        outcome.failures.append(f"{errors} requests failed outside what a fault explains")
        outcome.failures += samples

    limits = result["limits"]
    expected = [200] * (len(limits["one address"]) - 1) + [429]
    for name in ("one address", "one account"):
        if limits[name] != expected:
            outcome.failures.append(f"login limit, {name}: {limits[name]} (expected {expected})")
    hosts_counted = limit_hosts(cluster, workdir, limits["address"])
    if len(hosts_counted) < 2:
        outcome.failures.append(f"the limit check reached only {hosts_counted}")

    resource = resource_server_use(result["events"], faults)
    if resource["offline new"] == 0 or resource["offline old"] == 0:
        outcome.failures.append(
            f"the resource server did not see both keys after the rotation: {resource}"
        )
    seconds = result["load_seconds"]
    lines = [
        f"authsvc cluster: {len(cluster.hosts)} hosts x {cluster.workers} gunicorn workers behind "
        f"nginx, on PostgreSQL and Redis; the example resource server; an SMTP server; "
        f"{seconds:.0f} s of mixed load",
        "",
        f"{'kind':<13}{'requests':>9}{'ok':>8}{'503*':>7}{'cut+':>6}{'errors':>8}"
        f"{'p50 ms':>9}{'p99 ms':>9}",
    ]
    total, every_latency = Counter(), []
    for kind in [k for k in KINDS if k in rows] + sorted(set(rows) - set(KINDS)):
        row = rows[kind]
        total.update(row)
        every_latency += latencies[kind]
        lines.append(_row(kind, row, latencies[kind]))
    lines.append(_row("all", total, every_latency))
    load_events = sum(rows[k].total() for k in rows if not k.startswith(("verify", "limit")))
    lines += [
        "* 503 problem+json while PostgreSQL was unreachable; + nginx's 502 for a request "
        "in flight on the killed host (the resource server's 503 for its introspection)",
        "rs-offline: the resource server checks the token with the key set; rs-introspect: "
        "by introspection through nginx; rs-ended: a token of an ended session (401 expected)",
        f"load: {load_events} requests in {seconds:.1f} s ({load_events / seconds:.0f}/s) "
        "through the proxy, each cycle from a client address of its own",
    ]
    share = host_share(cluster, workdir)
    served = sum(share.values()) or 1
    lines.append(
        "per host (proxied client requests): "
        + "  ".join(f"{name} {share[name] / served:.1%}" for name in sorted(share))
    )
    lines.append(
        f"fault timeline (seconds from the start of the load; each fault's counts cover "
        f"it and the {faults[0].grace if faults else 0:.0f} s after it):"
    )
    for fault in faults:
        lines.append("  " + _fault_line(fault, result["events"], faults, t0))
        if fault.kind == "rotate":
            lines.append("    " + _rotation_line(fault.details, outcome.keys_refresh, resource))
    direct = result["direct"]
    mail = outcome.figures.get("mail", {})
    lines += [
        "checks:",
        f"  ended sessions refused by each host directly, right after logout-all: "
        f"{direct['refused']} ({direct['host unreachable']} skipped: host down)",
        f"  acknowledged registrations that log in afterwards: "
        f"{result['figures']['registrations checked']}; sessions ended by acknowledged "
        f"logouts, ended in the database: {len(result['ended'])}; kept sessions still "
        f"accepted: {result['figures']['kept sessions checked']}",
        f"  login limit ({len(expected) - 1}/min) from one address: {limits['one address']}; "
        f"for one account from {len(expected)} addresses: {limits['one account']}; "
        f"answered by {', '.join(sorted(hosts_counted))}",
        f"  client address in the hosts' access logs: {outcome.figures.get('host logs')}",
        f"  resource server: {resource['ended refused']} tokens of ended sessions refused by "
        f"introspection; offline checks refused {rows['rs-offline']['error']} valid tokens",
        "  " + _mail_line(mail),
        f"verdict: {'FAILED' if outcome.failures else 'ok'}",
    ]
    lines += [f"  FAILURE: {failure}" for failure in outcome.failures]
    return "\n".join(lines)


def resource_server_use(events, faults):
    """What the resource server did with tokens signed by each key after the rotation."""
    rotation = next((f for f in faults if f.kind == "rotate"), None)
    found = Counter()
    for event in events:
        kind, status, kid = event[1], event[2], event[6] if len(event) > 6 else None
        if kind == "rs-ended" and status == 401:
            found["ended refused"] += 1
        if kind != "rs-offline" or status != 200 or rotation is None:
            continue
        if event[0] >= rotation.details.get("started", float("inf")):
            if kid == rotation.details["old"]:
                found["offline old"] += 1
            elif kid == rotation.details["new"]:
                found["offline new"] += 1
    return found


def _rotation_line(details, keys_refresh, resource):
    switched = ", ".join(
        f"{name} +{seconds:.1f} s" for name, seconds in sorted(details.get("switched", {}).items())
    )
    return (
        f"every host signs with the new key (kid of tokens each host minted directly, "
        f"{details.get('probes', 0)} probes; KEYS_REFRESH_SECONDS={keys_refresh:g}): {switched}; "
        f"the command took {details.get('command seconds', 0):.1f} s; after it the resource "
        f"server accepted {resource['offline old']} tokens of the old key and "
        f"{resource['offline new']} of the new one offline"
    )


def _mail_line(mail):
    if not mail:
        return "mail: not checked"
    senders = mail["senders"]
    total = sum(senders.values()) or 1
    share = "  ".join(f"{name} {count / total:.1%}" for name, count in sorted(senders.items()))
    return (
        f"mail (MAIL_BACKEND=smtp, every host's senders at once): of {mail['acknowledged']} "
        f"acknowledged mails {mail['delivered once']} delivered exactly once; outbox "
        f"{mail['outbox']}; "
        f"{mail['arrived']} arrived ({mail['distinct']} distinct Message-IDs, "
        f"{mail['duplicates']} twice, {mail['excused duplicates']} of them from the killed "
        f"host as it died); "
        f"none pending {mail['drained after']:.1f} s after the workload ended; sent by {share}"
    )


def _row(kind, row, latencies):
    return (
        f"{kind:<13}{row.total():>9}{row['ok']:>8}{row['503']:>7}{row['cut']:>6}"
        f"{row['error']:>8}{percentile(latencies, 0.5):>9.1f}{percentile(latencies, 0.99):>9.1f}"
    )


def _fault_line(fault, events, faults, t0):
    window = [e for e in events if fault.start <= e[0] <= fault.end + fault.grace]
    verdicts = Counter(classify(e, faults) for e in window)
    failed = [e[0] for e in window if classify(e, faults) != "ok"]
    # The first request after the fault that needed authsvc's database and got its answer.
    after = [
        e[0]
        for e in events
        if e[0] > fault.end and e[1] != "rs-offline" and classify(e, faults) == "ok"
    ]
    recovery = ""
    if fault.kind == "database":
        last_failure = max(failed, default=fault.end)
        recovery = f"; last refusal {last_failure - fault.end:+.2f} s from its return"
        if after:
            recovery += f", first success {min(after) - fault.end:+.2f} s"
    elif fault.kind == "kill" and failed:
        recovery = f"; last cut {max(failed) - fault.start:.2f} s after the kill"
    notes = "".join(f", {key} {value}" for key, value in fault.notes.items())
    return (
        f"+{fault.start - t0:5.1f} .. +{fault.end - t0:5.1f}  {fault.label}{notes}: "
        f"{verdicts['ok']} ok, {verdicts['503']} x 503, {verdicts['cut']} cut, "
        f"{verdicts['error']} errors{recovery}"
    )
