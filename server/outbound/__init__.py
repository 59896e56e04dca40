"""Outbound campaigns (issue 21): campaigns and their state machine, contact lists with a column
mapping, the do-not-call list, calling windows, retry rules, call scripts, and the predictive pacer.
docs/outbound.md. The Asterisk side (originating, AMD, connecting to agents) is not built yet."""
