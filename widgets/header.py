"""The console's header: Textual's Header, safe to take down while its screen is still being built.

Textual's Header, once mounted, has the app and its screen call it back a turn later to write the
title. If the screen is taken down in between (the person quits, or a browser tab closes, just as
the console switches from the sign-in form to the agent screen), that call finds the title gone
and ends the app with NoMatches for HeaderTitle instead of letting it quit. This one writes the
title at once when its watches fire (nothing is left for a later turn) and only while the title is
there.
"""
from __future__ import annotations

from textual.dom import NoScreen
from textual.events import Mount
from textual.widgets import Header, Static


class ConsoleHeader(Header):
    def _on_mount(self, event: Mount) -> None:
        # Instead of Header's own (the same watches, synchronous, without its query_one that raises
        # when the title is gone); Widget's, which this also skips, only shows scroll bars a header has not.
        event.prevent_default()

        def set_title() -> None:
            try:
                for title in self.query("HeaderTitle").results(Static):  # none while the header is being taken down
                    title.update(self.format_title())
            except NoScreen:
                pass

        self.watch(self.app, "title", set_title)
        self.watch(self.app, "sub_title", set_title)
        self.watch(self.screen, "title", set_title)
        self.watch(self.screen, "sub_title", set_title)
