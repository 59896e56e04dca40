"""Contacts: caller identification and customer records, versioned call notes, call categories,
history with a caller, the callback / missed-call work list, an agent's own figures and the
transfer panel's targets. Its own SQLite database beside the main one; see docs/agent.md.
"""
from .config import ContactsConfig, FieldSpec, Line, load_config, parse_config
from .figures import agent_figures, caller_history, missed_calls
from .service import ContactsService
from .store import ContactsStore, default_path, phone_digits, phone_key

__all__ = ["ContactsConfig", "ContactsService", "ContactsStore", "FieldSpec", "Line", "agent_figures",
           "caller_history", "default_path", "load_config", "missed_calls", "parse_config", "phone_digits",
           "phone_key"]
