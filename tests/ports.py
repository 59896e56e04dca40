"""Free TCP ports for the real components the tests start (Kannel, Dovecot, slapd, PostgreSQL, ...).

Not the kernel's pick (bind to port 0): that comes from the ephemeral range, which the machine's
own outgoing connections draw their source ports from, so between our pick and the component's
bind another connection can take it (a full run saw Kannel's fake SMSC fail with "Address already
in use"). These come from below that range and above the sandboxes' SIP, RTP and ARI ports, are
checked free, and are never handed out twice in one test run.
"""
from __future__ import annotations

import random
import socket

LOW, HIGH = 23000, 32000  # under ip_local_port_range's 32768; sandboxes use 15100-22999
_given: set[int] = set()


def free_port() -> int:
    for _ in range(200):
        port = random.randrange(LOW, HIGH)
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free port between {LOW} and {HIGH}")
