"""The switchboard directory: persons and units per organisation, absences, search as you type.

See docs/directory.md. The directory keeps its own SQLite database (``<db_path>.directory.sqlite3``).
"""
from .importer import ImportRefused, ImportReport, import_files, import_paths
from .service import DirectoryService, open_service, split_key
from .store import DirectoryStore, default_path

__all__ = ["DirectoryService", "DirectoryStore", "ImportRefused", "ImportReport", "default_path", "import_files",
           "import_paths", "open_service", "split_key"]
