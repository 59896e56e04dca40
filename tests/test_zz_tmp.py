from textual.widgets import _header
from textual.css.query import NoMatches
import traceback
o = _header.Header._on_mount
def _on_mount(self, ev):
    async def set_title():
        try:
            self.query_one(_header.HeaderTitle).update(self.format_title())
        except NoMatches:
            print("MARK nomatch", self.screen, self.is_attached, list(self.children), self._is_mounted if hasattr(self, "_is_mounted") else None)
        except _header.NoScreen:
            pass
    self.watch(self.app, "title", set_title)
    self.watch(self.app, "sub_title", set_title)
    self.watch(self.screen, "title", set_title)
    self.watch(self.screen, "sub_title", set_title)
_header.Header._on_mount = _on_mount
from tests.test_tui_e2e import test_login_screen_wrong_then_right_password
