"""Identity-verified calling (Yivi) and light identification: docs/verified.md."""
