"""Names that tie ARI objects to our calls: Stasis arguments of each kind of leg, and the prefix of
every channel and bridge id we create (a resync recognises ours by it)."""

INBOUND = "inbound"  # Stasis(app,inbound,<DID>): a caller from the dialplan
AGENT_LEG = "agentleg"  # an agent's (or overflow number's) leg for a call
CONSULT = "consult"  # the consulted party's leg in an attended transfer
OUT_AGENT = "outagent"  # outbound: the agent's own device, called first
OUT_REMOTE = "outremote"  # outbound: the number the agent calls
BRIDGE_PREFIX = "cc-"


def leg_owner(channel_id: str) -> str:
    """The id of the leg a channel belongs to. A device that is a Local channel (an external number,
    a dial string) has two halves: we name the first; Asterisk names the second `<our id>;2`. That
    second half is part of our live leg, not a stale one."""
    return channel_id.split(";", 1)[0]
