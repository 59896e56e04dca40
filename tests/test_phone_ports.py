"""Sandboxes side by side (CC_CONSOLE_SIP_PORT 1 apart, CC_CONSOLE_RTP_START 1000 apart, as on a
shared machine or in parallel CI jobs): their baresip phones never share a port with each other or
with any sandbox's Asterisk RTP range. No Asterisk needed: the ports are pure arithmetic."""
from __future__ import annotations

from cc_console.config import PbxSettings
from cc_console.server.pbx.phones import PHONES_PER_SANDBOX, Phone


def ports(phone: Phone) -> set[int]:
    lo, hi = phone.rtp_range
    return {phone.sip_listen_port, phone.sip_listen_port + 1, phone.ctrl_port, *range(lo, hi + 1)}


def test_phones_of_neighbouring_sandboxes_never_share_a_port():
    sandboxes = [PbxSettings(root=f"/nonexistent/{k}", sip_port=15101 + k, rtp_start=22000 + 1000 * k,
                             rtp_end=22999 + 1000 * k) for k in range(8)]
    sandboxes.append(PbxSettings(root="/nonexistent/default"))  # 15060, 21000..21999
    owner: dict[int, str] = {}
    for s in sandboxes:
        for port in [*range(s.rtp_start, s.rtp_end + 1), s.sip_port]:  # Asterisk's own
            assert port not in owner, f"{s.root}: Asterisk port {port} is also {owner.get(port)}"
            owner[port] = f"{s.root} Asterisk"
    for s in sandboxes:
        for number in range(1001, 1001 + PHONES_PER_SANDBOX):
            for port in ports(Phone(s, number)):
                assert port not in owner, f"{s.root} phone {number}: port {port} is also {owner[port]}"
                assert 1024 < port < 65536
                owner[port] = f"{s.root} phone {number}"
