import asyncio, time
from cc_console.client import ConsoleClient
from cc_console.server.app import Server
from tests.test_tui_wallboard_e2e import *
T0 = time.time()
async def loop(self):
    print("MARK reconnect loop start", self._closing, time.time()-T0)
    delay = 0.2
    while not self._closing:
        try:
            await self.connect()
            print("MARK connected", time.time()-T0)
            if self.token:
                r = await self.call("resume", {"token": self.token})
                print("MARK resumed", time.time()-T0)
            return
        except Exception as exc:
            print("MARK exc", type(exc), time.time()-T0)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)
ConsoleClient._reconnect_loop = loop
o_start = Server.start
async def start(self):
    print("MARK server start", time.time()-T0)
    await o_start(self)
Server.start = start
o_stop = Server.stop
async def stop(self):
    print("MARK server stop", time.time()-T0)
    await o_stop(self)
    print("MARK server stopped", time.time()-T0)
Server.stop = stop
