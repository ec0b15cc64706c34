/* Rapport web chat widget. One tag: <script src="https://YOUR-RAPPORT/widget.js" defer></script>
 * Signed-in users (optional): window.RapportWidget = {user: {id, email, phone, signature}}
 * before the tag, or data-user-id / data-user-email / data-user-phone / data-user-signature on it.
 * Plain JS, no dependencies; styles live in a shadow root so the host page and the widget
 * cannot restyle each other. Apache-2.0. */
(function () {
  "use strict";
  if (window.__rapportWidget) return;
  window.__rapportWidget = true;
  var me = document.currentScript || document.querySelector('script[src$="/widget.js"]');
  if (!me) return;
  var BASE = new URL(me.src, location.href).origin;
  var cfg = window.RapportWidget || {};
  var d = me.dataset;
  var user = cfg.user || (d.userSignature ? {id: d.userId, email: d.userEmail, phone: d.userPhone, signature: d.userSignature} : null);
  var KEY = "rapport.widget:" + BASE;
  var token = null, lastId = 0, started = null, streaming = false, opened = false, unread = 0;
  var byId = {}, pending = {}, draft = null, typingEl = null;

  var css = ":host{all:initial}*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}" +
    ".btn{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;background:var(--c);color:#fff;cursor:pointer;box-shadow:0 6px 20px rgba(0,0,0,.25);z-index:2147483646;display:flex;align-items:center;justify-content:center}" +
    ".btn svg{width:26px;height:26px}.btn .shut,.btn.on .chat{display:none}.btn.on .shut{display:block}.badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;border-radius:10px;background:#ef4444;color:#fff;font-size:12px;line-height:20px;text-align:center;padding:0 5px}" +
    ".panel{position:fixed;right:20px;bottom:88px;width:370px;max-width:calc(100vw - 24px);height:560px;max-height:calc(100vh - 110px);background:#fff;border-radius:16px;box-shadow:0 12px 40px rgba(0,0,0,.22);display:flex;flex-direction:column;overflow:hidden;z-index:2147483647;color:#111827}" +
    ".panel[hidden]{display:none}.head{background:var(--c);color:#fff;padding:14px 16px;display:flex;align-items:center;gap:10px}" +
    ".av{width:34px;height:34px;border-radius:50%;background:rgba(255,255,255,.22);display:flex;align-items:center;justify-content:center;font-weight:600}" +
    ".t{flex:1;min-width:0}.t b{display:block;font-size:15px}.t span{display:block;font-size:12px;opacity:.85;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}.x{background:none;border:0;color:#fff;font-size:22px;cursor:pointer;line-height:1;padding:4px}" +
    ".log{flex:1;overflow-y:auto;padding:16px;background:#f7f8fa;display:flex;flex-direction:column;gap:8px}" +
    ".m{max-width:82%;padding:9px 12px;border-radius:14px;font-size:14px;line-height:1.45;white-space:pre-wrap;word-wrap:break-word}" +
    ".in{align-self:flex-start;background:#fff;border:1px solid #e5e7eb;border-bottom-left-radius:4px}.out{align-self:flex-end;background:var(--c);color:#fff;border-bottom-right-radius:4px}" +
    ".out.sending{opacity:.6}.out.failed{background:#b91c1c;cursor:pointer}.m a{color:inherit}.who{font-size:11px;color:#6b7280;margin:0 0 2px 4px}" +
    ".dots span{display:inline-block;width:7px;height:7px;margin:0 2px;border-radius:50%;background:#9ca3af;animation:b 1.2s infinite}.dots span:nth-child(2){animation-delay:.15s}.dots span:nth-child(3){animation-delay:.3s}" +
    "@keyframes b{0%,60%,100%{transform:none;opacity:.5}30%{transform:translateY(-4px);opacity:1}}" +
    ".stars{display:flex;gap:4px;margin-top:6px}.stars button{border:0;background:none;font-size:22px;cursor:pointer;color:#d1d5db;padding:0 2px}.stars button.on,.stars:hover button{color:#f59e0b}.stars button:hover~button{color:#d1d5db}" +
    ".note{align-self:center;font-size:12px;color:#6b7280;text-align:center}.form{display:flex;gap:8px;padding:10px;border-top:1px solid #e5e7eb;background:#fff}" +
    "textarea{flex:1;resize:none;border:1px solid #d1d5db;border-radius:10px;padding:9px 11px;font-size:14px;height:42px;max-height:120px;outline:none;color:#111827}textarea:focus{border-color:var(--c)}" +
    ".send{border:0;border-radius:10px;background:var(--c);color:#fff;padding:0 14px;cursor:pointer;font-size:14px;font-weight:600}.send:disabled{opacity:.5;cursor:default}" +
    ".foot{text-align:center;font-size:11px;color:#9ca3af;padding:0 0 8px;background:#fff}";

  var host = document.createElement("div");
  host.id = "rapport-widget";
  var root = host.attachShadow({mode: "open"});
  root.innerHTML = "<style>" + css + "</style>" +
    '<button class="btn" part="launcher" aria-label="Open chat"><svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path class="chat" d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/><path class="shut" d="M6 9l6 6 6-6"/></svg></button>' +
    '<section class="panel" role="dialog" aria-label="Chat" hidden><div class="head"><div class="av"></div><div class="t"><b></b><span></span></div>' +
    '<button class="x" aria-label="Close chat">&times;</button></div><div class="log" aria-live="polite"></div>' +
    '<form class="form"><textarea rows="1" placeholder="Write a message…" aria-label="Message" maxlength="8000"></textarea><button class="send" type="submit">Send</button></form>' +
    '<div class="foot">Powered by Rapport</div></section>';
  var $ = function (s) { return root.querySelector(s); };
  var btn = $(".btn"), panel = $(".panel"), log = $(".log"), form = $(".form"), input = $("textarea");

  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) fill(e, text); return e; }
  // Text only, never HTML; web addresses become links.
  function fill(e, text) {
    e.textContent = "";
    String(text).split(/(https?:\/\/[^\s<>"')\]]+)/).forEach(function (part, i) {
      if (i % 2) { var a = document.createElement("a"); a.href = part; a.textContent = part; a.target = "_blank"; a.rel = "noopener noreferrer"; e.appendChild(a); }
      else if (part) e.appendChild(document.createTextNode(part));
    });
  }
  function scroll() { log.scrollTop = log.scrollHeight; }
  function add(node) { if (typingEl && typingEl.parentNode) log.insertBefore(node, typingEl); else log.appendChild(node); scroll(); return node; }
  function badge() {
    var b = btn.querySelector(".badge");
    if (!unread || opened) { if (b) b.remove(); return; }
    if (!b) { b = el("span", "badge"); btn.appendChild(b); }
    b.textContent = unread > 9 ? "9+" : String(unread);
  }
  function typing(on) {
    if (on && !typingEl) { typingEl = el("div", "m in dots"); typingEl.innerHTML = "<span></span><span></span><span></span>"; log.appendChild(typingEl); scroll(); }
    if (!on && typingEl) { typingEl.remove(); typingEl = null; }
  }

  function api(method, path, body) {
    var h = {"Content-Type": "application/json"};
    if (token) h.Authorization = "Bearer " + token;
    return fetch(BASE + path, {method: method, headers: h, body: body ? JSON.stringify(body) : undefined}).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) { var e = new Error((j.error && j.error.message) || ("HTTP " + r.status)); e.status = r.status; e.retry = r.headers.get("Retry-After"); throw e; }
        return j;
      });
    });
  }

  function show(m) {
    if (byId[m.id]) return;
    lastId = Math.max(lastId, m.id);
    var mine = m.author === "customer";
    var node = mine && m.client_id && pending[m.client_id];
    if (node) { delete pending[m.client_id]; node.classList.remove("sending", "failed"); }
    else {
      if (!mine && draft) { draft.remove(); draft = null; }
      if (!mine) typing(false);
      node = add(el("div", "m " + (mine ? "out" : "in"), m.text));
      if (m.kind === "csat_prompt") node.appendChild(stars());
      if (!mine && !opened) { unread++; badge(); }
    }
    node.dataset.id = m.id;
    byId[m.id] = node;
  }

  function session() {
    var saved = null;
    try { saved = localStorage.getItem(KEY); } catch (e) { /* storage blocked: a session per page */ }
    var body = {token: saved || undefined};
    if (user && user.signature) body.user = {user_id: user.id || user.user_id, email: user.email, phone: user.phone, signature: user.signature};
    return api("POST", "/api/v1/widget/sessions", body).catch(function (e) {
      if (e.status !== 401 || !body.user) throw e;
      // A broken signature is the site's bug: chat anonymously rather than not at all.
      if (window.console) console.warn("Rapport widget: signed user refused (" + e.message + "); chatting anonymously");
      user = null;
      return api("POST", "/api/v1/widget/sessions", {token: saved || undefined});
    });
  }

  function start() {
    if (started) return started;
    started = session().then(function (s) {
      token = s.token;
      try { localStorage.setItem(KEY, token); } catch (e) { /* ignore */ }
      var w = s.widget || {};
      host.style.setProperty("--c", w.color || "#2563eb");
      $(".t b").textContent = w.title || "Chat";
      $(".t span").textContent = w.bot_name ? w.bot_name + " · replies in seconds" : "";
      $(".av").textContent = (w.title || "R").charAt(0).toUpperCase();
      if (w.greeting) log.appendChild(el("div", "m in", w.greeting));
      return api("GET", "/api/v1/widget/messages?limit=100");
    }).then(function (h) {
      (h.messages || []).forEach(show);
      unread = 0; badge();
      stream(0);
    }).catch(function (e) {
      started = null;
      note(e.message || "The chat is unavailable right now.");
      throw e;
    });
    return started;
  }

  function note(text) { add(el("div", "note", text)); }

  // Server-sent events over fetch, so the token travels in a header, not the URL.
  function stream(retries) {
    if (streaming) return;
    streaming = true;
    var h = {Authorization: "Bearer " + token, Accept: "text/event-stream"};
    fetch(BASE + "/api/v1/widget/events?after=" + lastId, {headers: h, cache: "no-store"}).then(function (r) {
      if (r.status === 401) {
        // The session expired: start a new one (and its stream).
        streaming = false; started = null; token = null;
        try { localStorage.removeItem(KEY); } catch (e) { /* ignore */ }
        start().catch(function () {});
        return;
      }
      if (!r.ok || !r.body) throw new Error("HTTP " + r.status);
      retries = 0;
      var reader = r.body.getReader(), dec = new TextDecoder(), buf = "";
      function pump() {
        return reader.read().then(function (x) {
          if (x.done) throw new Error("closed");
          buf += dec.decode(x.value, {stream: true}).replace(/\r\n?/g, "\n");
          var i;
          while ((i = buf.indexOf("\n\n")) >= 0) { dispatch(buf.slice(0, i)); buf = buf.slice(i + 2); }
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      streaming = false;
      setTimeout(function () { stream(retries + 1); }, Math.min(30000, 1000 * Math.pow(2, retries)));
    });
  }

  function dispatch(block) {
    var type = "message", data = "";
    block.split("\n").forEach(function (line) {
      if (line.indexOf("event:") === 0) type = line.slice(6).trim();
      else if (line.indexOf("data:") === 0) data += line.slice(5).replace(/^ /, "");
    });
    if (!data) return;
    var v;
    try { v = JSON.parse(data); } catch (e) { return; }
    if (type === "message") show(v);
    else if (type === "typing") typing(v.typing);
    else if (type === "delta") {
      if (!draft) { typing(false); draft = add(el("div", "m in", "")); draft.dataset.text = ""; }
      draft.dataset.text = v.replace ? v.text : draft.dataset.text + v.text;
      fill(draft, draft.dataset.text);
      scroll();
    }
  }

  // The rating request as five stars: a tap sends the score as the customer's reply ("⭐⭐⭐⭐"),
  // which the server keeps as the closed conversation's rating.
  function stars() {
    var row = el("div", "stars");
    row.setAttribute("role", "group");
    row.setAttribute("aria-label", "Rate this conversation");
    for (var n = 1; n <= 5; n++) (function (n) {
      var b = el("button", null, "★");
      b.type = "button";
      b.setAttribute("aria-label", n + " out of 5");
      b.onclick = function () {
        Array.prototype.forEach.call(row.children, function (x, i) { x.disabled = true; x.classList.toggle("on", i < n); });
        send(new Array(n + 1).join("⭐"));
      };
      row.appendChild(b);
    })(n);
    return row;
  }

  function rid() {
    var b = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }

  function send(text, node, id) {
    id = id || rid();
    if (!node) node = add(el("div", "m out sending", text));
    node.className = "m out sending";
    node.onclick = null;
    pending[id] = node;
    start().then(function () {
      return api("POST", "/api/v1/widget/messages", {text: text, client_id: id});
    }).then(function (r) {
      if (pending[id]) { delete pending[id]; node.classList.remove("sending"); byId[r.id] = node; node.dataset.id = r.id; }
    }).catch(function (e) {
      node.className = "m out failed";
      node.title = (e.status === 429 ? "Too many messages; wait " + (e.retry || "a few") + " s. " : (e.message || "Not sent") + ". ") + "Click to retry.";
      node.onclick = function () { send(text, node, id); };
      if (e.status === 429) note("You're sending messages quickly — wait a moment, then click your message to retry.");
    });
  }

  function open() {
    opened = true; panel.hidden = false; btn.classList.add("on"); btn.setAttribute("aria-label", "Close chat");
    unread = 0; badge();
    start().catch(function () {});
    setTimeout(function () { input.focus(); scroll(); }, 0);
  }
  function close() { opened = false; panel.hidden = true; btn.classList.remove("on"); btn.setAttribute("aria-label", "Open chat"); }

  btn.addEventListener("click", function () { if (opened) close(); else open(); });
  $(".x").addEventListener("click", close);
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") close(); });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit")); }
  });

  host.style.setProperty("--c", "#2563eb");
  (document.body || document.documentElement).appendChild(host);
  cfg.open = open; cfg.close = close;
  window.RapportWidget = cfg;
  var resume = null;
  try { resume = localStorage.getItem(KEY); } catch (e) { /* ignore */ }
  // A returning visitor sees replies that came while away (badge on the launcher).
  if (resume || d.open === "true" || cfg.startOpen) start().catch(function () {});
  if (d.open === "true" || cfg.startOpen) open();
})();
