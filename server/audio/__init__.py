"""Console audio: the agent's console as the phone (docs/audio.md)."""
