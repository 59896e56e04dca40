"""The voicemail inbox: messages moved off the PBX, listed as work items, played and called back (docs/voicemail.md)."""
