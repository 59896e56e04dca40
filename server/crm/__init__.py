"""The CRM capability (docs/crm.md): CTI contact start/stop per agent, signed webhooks, one durable
outbox that delivers both, contact synchronisation and export, and cases from level 1 to level 2."""
