/* cc-console webchat widget: include with
 *   <script src="https://<server>/chat/widget.js" data-queue="support" defer></script>
 * No framework and no third-party assets: this file, widget.css beside it and a websocket to
 * /chat/ws on the same server. A page reload keeps the conversation (its token is in localStorage).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var base = new URL(".", script.src);
  var queue = script.getAttribute("data-queue") || "";
  var title = script.getAttribute("data-title") || "Chat with us";
  var KEY = "ccchat.token";
  var ws = null, retry = 0, typingTimer = null, sentTyping = false, ended = false;

  var css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = new URL("widget.css", base).href;
  document.head.appendChild(css);

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }

  var root = el("div", "ccchat");
  var opener = el("button", "ccchat-open", title);
  opener.type = "button";
  var panel = el("div", "ccchat-panel");
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", title);
  var head = el("div", "ccchat-head", title);
  var closeBtn = el("button", "ccchat-hide", "\u00d7");
  closeBtn.type = "button";
  closeBtn.setAttribute("aria-label", "Minimise");
  head.appendChild(closeBtn);

  var form = el("form", "ccchat-start");
  var name = el("input", "ccchat-name");
  name.placeholder = "Your name"; name.required = true; name.maxLength = 80; name.autocomplete = "name";
  var email = el("input", "ccchat-email");
  email.type = "email"; email.placeholder = "E-mail (optional)"; email.autocomplete = "email";
  var go = el("button", "ccchat-go", "Start chat");
  go.type = "submit";
  form.appendChild(name); form.appendChild(email); form.appendChild(go);

  var status = el("div", "ccchat-status");
  status.setAttribute("aria-live", "polite");
  var log = el("div", "ccchat-log");
  log.setAttribute("aria-live", "polite");
  var typing = el("div", "ccchat-typing");
  typing.hidden = true;
  var compose = el("form", "ccchat-compose");
  var input = el("textarea", "ccchat-input");
  input.rows = 2; input.placeholder = "Write a message"; input.maxLength = 4000;
  var send = el("button", "ccchat-send", "Send");
  send.type = "submit";
  compose.appendChild(input); compose.appendChild(send);
  var tools = el("div", "ccchat-tools");
  var mail = el("button", "ccchat-transcript", "E-mail me the transcript");
  mail.type = "button";
  var end = el("button", "ccchat-end", "End chat");
  end.type = "button";
  tools.appendChild(mail); tools.appendChild(end);

  panel.appendChild(head); panel.appendChild(form); panel.appendChild(status); panel.appendChild(log);
  panel.appendChild(typing); panel.appendChild(compose); panel.appendChild(tools);
  root.appendChild(opener); root.appendChild(panel);

  function chatting(on) {
    form.hidden = on;
    log.hidden = compose.hidden = tools.hidden = !on;
  }
  chatting(false);

  function say(text) { status.textContent = text; }

  function addMessage(m) {
    if (log.querySelector('[data-n="' + m.n + '"]')) return;
    var row = el("div", "ccchat-msg ccchat-" + m.sender);
    row.setAttribute("data-n", m.n);
    if (m.sender !== "system") row.appendChild(el("span", "ccchat-author", (m.sender === "visitor" ? "You" : m.author) + ": "));
    row.appendChild(el("span", "ccchat-text", m.text));
    log.appendChild(row);
    log.scrollTop = log.scrollHeight;
  }

  function open() {
    var url = new URL("ws", base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(url.href);
    ws.onopen = function () {
      retry = 0;
      var token = localStorage.getItem(KEY);
      if (token) ws.send(JSON.stringify({op: "resume", token: token}));
      else if (pending) { ws.send(JSON.stringify(pending)); pending = null; }
    };
    ws.onmessage = function (ev) { handle(JSON.parse(ev.data)); };
    ws.onclose = function () {
      ws = null;
      if (ended || !localStorage.getItem(KEY)) return;
      say("Connection lost; reconnecting\u2026");
      setTimeout(open, Math.min(5000, 250 * Math.pow(2, retry++)));
    };
  }
  var pending = null;

  function handle(f) {
    switch (f.op) {
      case "started":
        localStorage.setItem(KEY, f.token);
        log.textContent = "";
        compose.hidden = end.hidden = false;
        chatting(true);
        say("Waiting for an agent\u2026");
        break;
      case "resumed":
        log.textContent = "";
        chatting(true);
        panel.hidden = false;
        f.messages.forEach(addMessage);
        if (f.conversation.state === "closed") finish("This chat has ended.");
        else if (f.conversation.state === "active") say("");
        else say("Waiting for an agent\u2026");
        break;
      case "position":
        say("You are number " + f.position + " in the queue.");
        break;
      case "agent":
        say("You are chatting with " + f.name + ".");
        break;
      case "message":
        addMessage(f.message);
        if (f.message.sender === "agent") typing.hidden = true;
        break;
      case "typing":
        typing.textContent = f.name + " is typing\u2026";
        typing.hidden = !f.on;
        break;
      case "closed":
        finish("This chat has ended. Thank you!");
        break;
      case "transcript_sent":
        say("The transcript is on its way to " + f.email + ".");
        break;
      case "error":
        if (f["for"] === "resume") { localStorage.removeItem(KEY); chatting(false); say(""); }
        else say(f.message);
        break;
    }
  }

  function finish(text) {
    ended = true;
    localStorage.removeItem(KEY);
    compose.hidden = true;
    end.hidden = true;
    typing.hidden = true;
    form.hidden = false;  // the transcript stays above; a new chat can start
    go.textContent = "Start a new chat";
    say(text);
  }

  function post(frame) {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame));
    else { pending = frame; if (!ws) open(); }
  }

  opener.onclick = function () { panel.hidden = !panel.hidden; if (!panel.hidden) (form.hidden ? input : name).focus(); };
  closeBtn.onclick = function () { panel.hidden = true; };
  form.onsubmit = function (e) {
    e.preventDefault();
    ended = false;
    post({op: "start", name: name.value, email: email.value, queue: queue});
  };
  compose.onsubmit = function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    post({op: "say", text: text});
    input.value = "";
    sentTyping = false;
    post({op: "typing", on: false});
  };
  input.onkeydown = function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); compose.requestSubmit(); }
  };
  input.oninput = function () {
    if (!sentTyping) { sentTyping = true; post({op: "typing", on: true}); }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { sentTyping = false; post({op: "typing", on: false}); }, 3000);
  };
  mail.onclick = function () {
    var to = email.value || window.prompt("Your e-mail address for the transcript:") || "";
    if (to) post({op: "transcript", email: to});
  };
  end.onclick = function () { post({op: "end"}); };

  function mount() {
    document.body.appendChild(root);
    if (localStorage.getItem(KEY)) open();
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
