"""The asyncio server: ARI gateway, call state, routing, storage, the consoles' websocket gateway."""
