"""After the load: the outbox drained by the senders of every host at once, and every
acknowledged mail delivered exactly once.

A mail's Message-ID is made when the sender renders its outbox row, and a
retry sends the stored message again: so a mail delivered twice arrives twice
with one Message-ID, and two Message-IDs for one acknowledged request would be
two mails. The contract allows one duplicate where a sender dies between the
SMTP server's 250 and marking the row sent; a duplicate is excused only when
its first copy came from the killed host in its last moments. (A database
outage is no excuse: the sender marks such a mail once the database is back.)
"""

import time
from collections import Counter, defaultdict

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from authsvc.mail.messages import TEMPLATES

KIND_OF_SUBJECT = {subject: kind for kind, (subject, _paragraphs) in TEMPLATES.items()}
STATUSES = text("SELECT status, count(*) FROM mail_outbox GROUP BY status")
EXCUSE_BEFORE = 2.0  # seconds before a kill in which a sent mail may be left unmarked


def wait_for_drain(database_url, timeout):
    """Poll until no outbox row is pending (or `timeout`); (rows by status, seconds waited)."""
    engine = create_engine(database_url, poolclass=NullPool)
    started = time.monotonic()
    try:
        while True:
            with engine.connect() as connection:
                counts = dict(connection.execute(STATUSES).all())
            waited = time.monotonic() - started
            if not counts.get("pending") or waited > timeout:
                return counts, waited
            time.sleep(0.5)
    finally:
        engine.dispose()


def excused(first, faults, killed_address):
    """A duplicate whose first copy came from the killed host as it died."""
    return any(
        fault.kind == "kill"
        and first.peer == killed_address
        and fault.start - EXCUSE_BEFORE <= first.at <= fault.start + 0.5
        for fault in faults
    )


def check_mail(cluster, database_url, acknowledged, faults, timeout):
    """`acknowledged`: {kind: [address, ...]}. Return (figures, failures)."""
    failures = []
    counts, waited = wait_for_drain(database_url, timeout)
    if counts.get("pending"):
        failures.append(f"{counts['pending']} mails still pending {timeout:.0f} s after the load")
    if counts.get("failed"):
        failures.append(f"{counts['failed']} mails given up")
    # The sink keeps a mail before its 250, the sender marks the row after it: every
    # row marked sent has arrived.
    with cluster.smtp.lock:
        received = list(cluster.smtp.received)
    copies = defaultdict(list)
    for item in received:
        copies[item.message["Message-ID"]].append(item)
    if len(copies) != counts.get("sent", 0):
        failures.append(
            f"{len(copies)} distinct mails arrived, the outbox sent {counts.get('sent')}"
        )

    by_mail = defaultdict(set)  # (kind, address) -> Message-IDs
    for message_id, items in copies.items():
        kind = KIND_OF_SUBJECT.get(str(items[0].message["Subject"]), "other")
        for address in items[0].rcpt_tos:
            by_mail[kind, address].add(message_id)
    missing = twice = once = 0
    for kind, addresses in acknowledged.items():
        for address in addresses:
            found = by_mail.get((kind, address), ())
            missing += not found
            twice += len(found) > 1
            once += len(found) == 1 and len(copies[next(iter(found))]) == 1
    if missing:
        failures.append(f"{missing} acknowledged mails never arrived")
    if twice:
        failures.append(f"{twice} acknowledged requests made two different mails")

    killed = cluster.topology.addresses["h2"]
    duplicates = [items for items in copies.values() if len(items) > 1]
    unexcused = [items for items in duplicates if not excused(items[0], faults, killed)]
    if unexcused:
        failures.append(
            f"{len(unexcused)} mails delivered twice, not by a host as it was killed: "
            + ", ".join(
                f"{items[0].message['Message-ID']} at {items[0].at:.1f}" for items in unexcused[:3]
            )
        )
    senders = Counter(cluster.host_of(item.peer) for item in received)
    figures = {
        "acknowledged": sum(len(addresses) for addresses in acknowledged.values()),
        "delivered once": once,
        "outbox": counts,
        "arrived": len(received),
        "distinct": len(copies),
        "duplicates": len(duplicates),
        "excused duplicates": len(duplicates) - len(unexcused),
        "drained after": waited,
        "senders": dict(senders),
    }
    return figures, failures
