"""The audit log (log.py) and the capability that fills it (plugin.py): docs/identity.md."""
