"""The capabilities' own databases that `cc-console admin migrate-store` copies beside the main store
(server/store/copy.py; this list lives beside the CLI, since the store layer never imports the
capabilities): each SQLite file beside the main one, the PostgreSQL schema it goes to, its
migrations, and its tables with their keys, in an order where nothing refers to a row not yet copied.

Every capability database that can live in PostgreSQL is here (docs/storage.md, "What is where");
tests/test_store_migrate.py copies one of each.
"""
from __future__ import annotations

from pathlib import Path

from cc_console.server.store.copy import Part


def capability_parts(main_db: str | Path) -> list[Part]:
    from cc_console.server.api import clients
    from cc_console.server.audit import log as audit
    from cc_console.server.chat import store as chat
    from cc_console.server.contacts import store as contacts
    from cc_console.server.crm import store as crm
    from cc_console.server.directory import store as directory
    from cc_console.server.email import store as email
    from cc_console.server.outbound import store as outbound
    from cc_console.server.recordings import store as recordings
    from cc_console.server.sms import store as sms
    from cc_console.server.verified import service as verified
    from cc_console.server.web import links

    def beside(name: str) -> Path:
        return Path(f"{main_db}.{name}.sqlite3")  # as Context.db_path names them

    return [
        Part("recordings", beside("recordings"), "recordings", recordings.MIGRATIONS,
             (("recordings", "id"), ("evaluations", "recording_id, evaluator"), ("marks", "id"),
              ("audit", "id"), ("purge_log", "id"))),
        Part("contacts", beside("contacts"), "contacts", contacts.MIGRATIONS,
             (("contacts", "id"), ("contact_phones", "contact_id"), ("notes", "seq"),
              ("call_meta", "call_id"), ("settings", "key"), ("missed", "id")),
             keyless=(("contact_phones", "contact_id"),)),
        Part("crm", beside("crm"), "crm", crm.MIGRATIONS,
             (("outbox", "seq"), ("deliveries", "seq"), ("cti_open", "call_id, agent"),
              ("subscriptions", "id"), ("cases", "id"))),
        Part("directory", beside("directory"), "directory", directory.MIGRATIONS,
             (("units", "tenant, id"), ("persons", "tenant, id"), ("absences", "id"), ("imports", "seq"))),
        Part("chat", beside("chat"), "chat", chat.MIGRATIONS,
             (("conversations", "id"), ("messages", "id"))),  # PostgreSQL indexes the messages' words itself
        Part("email", beside("email"), "email", email.MIGRATIONS,
             (("threads", "id"), ("messages", "id"), ("message_ids", "message_id"), ("attachments", "id"))),
        Part("sms", beside("sms"), "sms", sms.MIGRATIONS,
             (("conversations", "id"), ("messages", "id"), ("reports", "message"), ("subscriptions", "id"),
              ("push_events", "id"), ("push_log", "event, subscription")),
             keyless=(("reports", "message"),), written_order=("messages", "push_log")),
        Part("outbound", beside("outbound"), "outbound", outbound.MIGRATIONS,
             (("campaigns", "id"), ("contacts", "seq"), ("attempts", "seq"), ("dnc", "number"),
              ("answers", "call_id, question"), ("occupancy", "campaign, agent"))),
        Part("audit", beside("audit"), "audit", audit.MIGRATIONS, (("audit", "id"),)),
        Part("verified", beside("verified"), "verified", verified.MIGRATIONS,
             (("verifications", "id"), ("idents", "id"))),
        Part("web", beside("web"), "web", links.MIGRATIONS, (("links", "token_hash"),)),
        Part("api", beside("api"), "api", clients.MIGRATIONS, (("api_clients", "name"),)),
    ]
