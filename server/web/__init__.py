"""Web pages on the server's own aiohttp application (docs/web.md)."""
