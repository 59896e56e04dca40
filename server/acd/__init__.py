"""Automatic call distribution: queues, agents and the routing decision (pure)."""
from .routing import decide

__all__ = ["decide"]
