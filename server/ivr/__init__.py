"""IVR trees, spoken prompts and the IVR report (docs/ivr.md)."""
