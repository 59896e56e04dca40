import asyncio
from cc_console.client import ConsoleClient
from tests.test_tui_wallboard_e2e import *

async def loop(self):
    print("MARK reconnect loop start", self._closing)
    try:
        delay = 0.2
        while not self._closing:
            try:
                await self.connect()
                print("MARK connected")
                if self.token:
                    r = await self.call("resume", {"token": self.token})
                    print("MARK resumed", list(r))
                return
            except Exception as exc:
                print("MARK exc", type(exc), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)
    except BaseException as e:
        print("MARK loop died", type(e)); raise
ConsoleClient._reconnect_loop = loop
