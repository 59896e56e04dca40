"""High availability: two or more servers for one Asterisk, exactly one active (docs/high-availability.md).

The lease is a PostgreSQL advisory lock held on a dedicated connection (lease.py); the node
(node.py) serves as a standby until it holds it, then starts the full server as a restart would.
"""
from __future__ import annotations

from .lease import Lease, LeaseLost, lock_key
from .node import HaNode, HaSettings

__all__ = ["HaNode", "HaSettings", "Lease", "LeaseLost", "lock_key"]
