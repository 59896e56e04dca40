"""Outbound campaigns (issue 21): campaigns and their state machine, contact lists with a column
mapping, the do-not-call list, calling windows, retry rules, call scripts, the predictive pacer and the dialer
on Asterisk (progressive, predictive, answering-machine detection). docs/outbound.md."""
