import asyncio, time, traceback
from cc_console.client import ConsoleClient
from tests.test_tui_wallboard_e2e import *
T0 = time.time()
o_clear = asyncio.Event.clear
def clear(self):
    st = traceback.format_stack(limit=3)[0]
    if "client.py" in st: print("MARK clear", time.time()-T0, st)
    o_clear(self)
asyncio.Event.clear = clear
o_handle = ConsoleClient._handle
def handle(self, frame):
    if frame.get("type") != "event": print("MARK frame", frame.get("type"), frame.get("seq"), time.time()-T0)
    o_handle(self, frame)
ConsoleClient._handle = handle
