"""The chat, e-mail, outbound, IVR and identity capabilities refuse with domain errors
(cc_console/errors.py) from their services, in the same words as before; their plugins no longer
turn them into protocol errors (each front door maps a DomainError once: tests/test_domain_errors.py).
No Asterisk: the engine is tests/test_call_states.py's floor."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from cc_console.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Unavailable
from cc_console.protocol import ErrorCode, ProtocolError


async def test_the_chat_service_refuses_with_domain_errors(floor, tmp_path):
    from cc_console.server.acd.hours import Schedule
    from cc_console.server.chat.service import ChatService, QueueClosed, TooManyChats, visitor_code
    from cc_console.server.chat.settings import ChatSettings
    from cc_console.server.chat.store import ChatStore
    store = ChatStore(str(tmp_path / "chat.sqlite3"))
    svc = ChatService(ChatSettings(queue="support"), store, floor.eng, lambda *a: None)
    try:
        with pytest.raises(NotFound, match="That chat is no longer open."):
            svc.get("nope")
        with pytest.raises(Invalid, match="Please tell us your name."):
            svc.start_conversation("  ")
        c, _ = svc.start_conversation("Visitor")
        with pytest.raises(Conflict, match="This chat is not yours."):
            svc.escalate("a1", c.id, "call", "0201234567")
        c.agent = "a1"
        with pytest.raises(Invalid, match="Give the number to call."):
            svc.escalate("a1", c.id, "call", " ")
        week = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        floor.eng.cfg.queues["support"].schedule = Schedule.from_config("UTC", dict.fromkeys(week, "closed"))
        with pytest.raises(QueueClosed, match="We are closed now") as closed:
            svc.start_conversation("Late visitor")
        # a conflict to the consoles and REST; the visitors' widget keeps its own word for it
        assert isinstance(closed.value, Conflict) and visitor_code(closed.value) == "closed"
        assert visitor_code(Unavailable("busy")) == "unavailable" and visitor_code(NotFound("gone")) == "not_found"
        assert TooManyChats("slow down").code is ErrorCode.RATE_LIMITED
    finally:
        store.close()


async def test_the_email_service_refuses_with_domain_errors(floor, tmp_path):
    from cc_console.server.email.service import EmailService
    from cc_console.server.email.settings import EmailSettings
    from cc_console.server.email.store import EmailStore
    store = EmailStore(str(tmp_path / "email.sqlite3"))
    svc = EmailService(EmailSettings(), store, floor.eng, lambda *a: None)
    try:
        with pytest.raises(NotFound, match="That e-mail is no longer open."):
            svc.get("nope")
        with pytest.raises(NotFound):
            svc.accept("a1", "nope")
    finally:
        store.close()


def test_the_outbound_services_refusals_are_domain_errors():
    from cc_console.server.outbound.campaigns import CampaignError, CampaignNotFound
    from cc_console.server.outbound.lists import ListError, read_list
    from cc_console.server.outbound.service import OutboundService
    from cc_console.server.outbound.store import OutboundStore
    svc = OutboundService(OutboundStore(":memory:"))
    with pytest.raises(NotFound) as gone:
        svc.get("nope")
    assert isinstance(gone.value, CampaignNotFound) and gone.value.code is ErrorCode.NOT_FOUND
    assert isinstance(CampaignError("x"), Conflict) and CampaignError("x").code is ErrorCode.CONFLICT
    with pytest.raises(Invalid) as bad:
        read_list(b"name\nAnn\n", "csv", {"name": "nosuchcolumn"})
    assert isinstance(bad.value, ListError) and isinstance(bad.value, ValueError)


def test_the_ivr_refuses_a_report_ending_before_it_starts():
    from cc_console.server.ivr.report import ivr_report
    with pytest.raises(Invalid, match="the report's end must come after its start"):
        ivr_report(SimpleNamespace(events=lambda **k: iter(())), 10.0, 5.0)


async def test_the_ivr_reload_refuses_a_broken_tree_file_and_keeps_the_old_trees(tmp_path):
    from cc_console.server.ivr.plugin import Ivr
    ivr = Ivr.__new__(Ivr)  # only the reload: the tree file is read in a thread, the runner keeps the old trees
    used: list[object] = []
    ivr.settings = SimpleNamespace(file=str(tmp_path / "missing.toml"))
    ivr.runner = SimpleNamespace(use=used.append)
    ivr._load = lambda: (_ for _ in ()).throw(OSError("the IVR tree file is missing"))  # type: ignore[method-assign]
    with pytest.raises(Invalid, match="IVR trees not reloaded, the old ones stay: the IVR tree file is missing"):
        await ivr.reload()
    assert used == []


async def test_identitys_refusals_are_domain_errors(tmp_path):
    from cc_console.config import Settings
    from cc_console.server.auth import Auth
    from cc_console.server.identity.plugin import Identity
    from cc_console.server.store import SQLiteStore
    store = SQLiteStore(tmp_path / "cc.sqlite3")
    auth = Auth(store)
    auth.add_user("boss", "Long-pass-12345", "admin")
    auth.add_user("sup", "Long-pass-12345", "supervisor")
    auth.add_user("ann", "Long-pass-12345", "agent")
    ident = Identity(SimpleNamespace(auth=auth, settings=Settings(), end_sessions=lambda *a: None))
    admin = SimpleNamespace(principal=SimpleNamespace(username="boss", permissions=frozenset({"admin"})))
    sup = SimpleNamespace(principal=SimpleNamespace(username="sup", permissions=frozenset({"supervise"})))

    def req(**args: object) -> SimpleNamespace:
        return SimpleNamespace(args=args)
    try:
        cases = [(ident._delete, admin, req(username="boss"), Conflict, "You cannot delete your own account"),
                 (ident._delete, admin, req(username="nobody"), NotFound, "No account 'nobody'"),
                 (ident._role_delete, admin, req(name="nosuchrole"), NotFound, "No role 'nosuchrole'"),
                 (ident._team_delete, sup, req(username="ann"), Forbidden, "ann is not in a team you lead"),
                 (ident._update, admin, req(username="ann", role="nosuchrole"), Invalid, "")]
        for handler, caller, r, kind, words in cases:
            with pytest.raises(DomainError) as refused:
                await handler(caller, r)
            assert type(refused.value) is kind and not isinstance(refused.value, ProtocolError)
            assert refused.value.message.startswith(words), refused.value.message
    finally:
        store.close()
