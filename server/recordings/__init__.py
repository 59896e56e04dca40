"""Call recording: record, find, play, evaluate, retain (docs/recordings.md)."""
from .service import RIGHTS, RecordingService, RecordingSettings, rights
from .store import RecordingStore, default_path

__all__ = ["RIGHTS", "RecordingService", "RecordingSettings", "RecordingStore", "default_path", "rights"]
