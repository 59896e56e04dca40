"""A customer's e-mail as the console shows it: who, the subject, the threading headers, the text
(HTML turned into plain text: no markup, no scripts, no remote images reach a console) and the
attachments. Pure functions over the stdlib's email package."""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

_ID = re.compile(r"<[^<>\s]+>")


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Incoming:
    message_id: str
    sender: str  # the address, lower case
    name: str
    subject: str
    in_reply_to: list[str]
    references: list[str]
    text: str
    attachments: list[Attachment] = field(default_factory=list)
    automatic: bool = False  # an auto-reply, a bounce or a list: never acknowledged

    def parents(self) -> list[str]:
        """Message-IDs this one answers, nearest first."""
        return [*self.in_reply_to, *reversed(self.references)]


class _Text(HTMLParser):
    """HTML -> text: tags dropped, script and style dropped with their content, blocks as lines."""

    BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skip += 1
        elif tag in self.BLOCK:
            self.out.append("\n")
        if tag == "li":
            self.out.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(data)


def html_to_text(source: str) -> str:
    p = _Text()
    p.feed(source)
    p.close()
    text = html.unescape("".join(p.out))
    # the console shows text only: no control characters (terminal escapes) from a stranger's mail
    text = "".join(ch for ch in text if ch in "\n\t" or ch >= " ")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or ch >= " ").strip()


def ids(value: str | None) -> list[str]:
    return _ID.findall(str(value or ""))


def _content(part: MIMEPart) -> str:
    try:
        return str(part.get_content())
    except LookupError:
        # a charset Python does not know (mail programs invent some): the bytes as UTF-8, the rest
        # replaced, rather than a customer's mail that cannot be read at all
        data = part.get_payload(decode=True)
        return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data or "")


def parse(raw: bytes) -> Incoming:
    msg: EmailMessage = BytesParser(policy=policy.default).parsebytes(raw)
    name, addr = parseaddr(str(msg.get("Reply-To") or msg.get("From") or ""))
    if not addr:
        found = getaddresses([str(msg.get("From", ""))])
        name, addr = found[0] if found else ("", "")
    body = msg.get_body(preferencelist=("plain", "html"))
    text = ""
    if body is not None:
        content = _content(body)
        text = html_to_text(content) if body.get_content_type() == "text/html" else _clean(content)
    attachments = []
    for part in msg.iter_attachments():
        data = part.get_payload(decode=True)
        data = data if isinstance(data, bytes) else b""
        attachments.append(Attachment(part.get_filename() or "attachment", part.get_content_type(), data))
    auto = str(msg.get("Auto-Submitted", "no")).lower() != "no" or \
        str(msg.get("Precedence", "")).lower() in ("bulk", "list", "junk") or bool(msg.get("List-Id"))
    mid = (ids(msg.get("Message-ID")) or [""])[0]
    return Incoming(mid, addr.strip().lower(), name.strip() or addr.strip(), str(msg.get("Subject", "")).strip(),
                    ids(msg.get("In-Reply-To")), ids(msg.get("References")), text, attachments, auto)
