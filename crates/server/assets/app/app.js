// The agents' and admins' app: sign-in, the escalation inbox with the customer's cross-channel
// timeline, the playground and the analytics page. Plain modules over the public API; every
// change carries the session's CSRF token. Text is always set with textContent.

const state = { csrf: null, me: null, status: "open", selected: null, timer: null };

const $ = (sel) => document.querySelector(sel);
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

async function api(method, path, body) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && state.csrf) headers["x-csrf-token"] = state.csrf;
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  if (resp.status === 401) { showLogin(); throw new Error("signed out"); }
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw new Error(data?.error?.message || `HTTP ${resp.status}`);
  return data;
}

function ago(iso) {
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

function showLogin() {
  $("#app").hidden = true;
  $("#login").hidden = false;
  clearInterval(state.timer);
}

async function start() {
  try {
    const me = await fetch("/api/v1/auth/me", { credentials: "same-origin" });
    if (!me.ok) return showLogin();
    const data = await me.json();
    state.me = data;
    state.csrf = data.csrf_token;
    $("#me").textContent = `${data.name || data.email} · ${data.role}`;
    $("#login").hidden = true;
    $("#app").hidden = false;
    route();
  } catch { showLogin(); }
}

$("#login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const err = $("#login-error");
  err.hidden = true;
  const resp = await fetch("/api/v1/auth/login", {
    method: "POST", headers: { "content-type": "application/json" }, credentials: "same-origin",
    body: JSON.stringify({ email: f.get("email"), password: f.get("password") }),
  });
  if (!resp.ok) {
    const data = await resp.json().catch(() => null);
    err.textContent = data?.error?.message || "Could not sign in.";
    err.hidden = false;
    return;
  }
  history.replaceState(null, "", "/app/inbox");
  start();
});

$("#logout").addEventListener("click", async () => {
  await api("POST", "/api/v1/auth/logout").catch(() => {});
  state.csrf = null;
  state.events?.close();
  state.events = null;
  showLogin();
});

for (const a of document.querySelectorAll(".nav a")) {
  a.addEventListener("click", (e) => { e.preventDefault(); history.pushState(null, "", a.getAttribute("href")); route(); });
}
window.addEventListener("popstate", route);

function route() {
  const page = location.pathname.split("/")[2] || "inbox";
  for (const p of ["inbox", "playground", "knowledge", "analytics"]) $(`#page-${p}`).hidden = p !== page;
  for (const a of document.querySelectorAll(".nav a")) a.classList.toggle("on", a.dataset.page === page);
  clearInterval(state.timer);
  if (page === "inbox") { loadInbox(); listen(); state.timer = setInterval(loadInbox, 15000); }
  if (page === "analytics") loadAnalytics();
  if (page === "knowledge") { loadSources(); state.timer = setInterval(loadSources, 3000); }
}

// Live updates: the server's event stream says when escalations or messages change; polling
// above is only the fallback when the stream is down.
function listen() {
  if (state.events) return;
  state.events = new EventSource("/api/v1/events");
  const refresh = () => {
    if ($("#page-inbox").hidden) return;
    loadInbox();
    const typing = document.activeElement?.tagName === "TEXTAREA";
    if (state.selected && !typing) openEscalation(state.selected);
  };
  state.events.addEventListener("escalation", refresh);
  state.events.addEventListener("message", refresh);
}

// Inbox ---------------------------------------------------------------------------------------

for (const b of document.querySelectorAll("#tabs button")) {
  b.addEventListener("click", () => {
    for (const o of document.querySelectorAll("#tabs button")) o.classList.toggle("on", o === b);
    state.status = b.dataset.status;
    loadInbox();
  });
}

async function loadInbox() {
  const q = state.status ? `?status=${state.status}` : "";
  let list;
  try { list = (await api("GET", `/api/v1/escalations${q}`)).escalations; } catch { return; }
  if (state.status === "claimed") list = list.filter((e) => e.assignee_id === state.me.user_id);
  const ul = $("#escalations");
  ul.replaceChildren(...list.map((e) => el("li", { class: e.id === state.selected ? "on" : "", "data-id": e.id, onclick: () => openEscalation(e.id) },
    el("span", { class: "wait" }, ago(e.created_at)),
    el("div", { class: "who" }, (e.summary || "").split(" · ")[0] || `Conversation ${e.conversation_id}`),
    el("div", { class: "reason" }, e.reason))));
  $("#empty").hidden = list.length > 0;
}

async function openEscalation(id) {
  state.selected = id;
  for (const li of document.querySelectorAll("#escalations li")) li.classList.toggle("on", Number(li.dataset.id) === id);
  const esc = await api("GET", `/api/v1/escalations/${id}`);
  const conv = await api("GET", `/api/v1/conversations/${esc.conversation_id}`);
  const contactId = conv.conversation.contact_id;
  const [timeline, contact] = await Promise.all([
    api("GET", `/api/v1/contacts/${contactId}/timeline`),
    api("GET", `/api/v1/contacts/${contactId}`),
  ]);
  renderDetail(esc, conv, timeline.messages, contact);
}

function renderDetail(esc, conv, messages, contact) {
  const c = conv.conversation;
  const contactId = contact.contact?.id ?? c.contact_id;
  const reply = el("textarea", { rows: "3", placeholder: `Reply on ${c.channel}…` });
  const act = (label, fn, cls = "") => el("button", { class: cls, onclick: async (e) => {
    e.target.disabled = true;
    try { await fn(); await openEscalation(esc.id); loadInbox(); } catch (err) { alert(err.message); } finally { e.target.disabled = false; }
  } }, label);
  const sources = (esc.context?.sources || []).filter((s) => s.title);
  $("#detail").replaceChildren(
    el("div", { class: "card" },
      el("h2", {}, esc.reason),
      el("div", { class: "muted" }, `Status: ${c.status.replace("_", " ")} · escalated ${ago(esc.created_at)}${ago(esc.created_at) === "just now" ? "" : " ago"}`),
      el("h3", {}, "Journey"), el("div", { class: "summary" }, esc.summary),
      sources.length ? el("div", { class: "sources" }, el("h3", {}, "Sources the bot consulted"),
        sources.map((s) => s.url ? el("a", { href: s.url, target: "_blank", rel: "noopener" }, s.title) : el("span", {}, s.title))) : null,
      esc.draft ? el("div", {}, el("h3", {}, "Bot's draft"), el("div", { class: "summary" }, esc.draft),
        el("button", { class: "link", onclick: () => { reply.value = esc.draft; reply.focus(); } }, "Use this draft")) : null),
    el("div", { class: "card" },
      el("h2", {}, "Timeline on every channel"),
      el("ul", { class: "timeline" }, messages.map((m) => el("li", { class: `msg ${m.internal_note ? "note" : m.author}` },
        el("div", { class: "meta" }, el("span", { class: `badge ${m.channel}` }, m.channel), `${m.author} · ${ago(m.created_at)}`,
          m.delivery_status ? ` · ${m.delivery_status}` : ""),
        el("div", {}, m.text),
        m.delivery_error ? el("div", { class: "failed" }, m.delivery_error,
          m.delivery_status === "failed" ? act("Retry", () => api("POST", `/api/v1/messages/${m.id}/retry`), "link") : null) : null)))),
    el("div", { class: "card reply" },
      reply,
      el("div", { class: "actions" },
        act("Send reply", () => api("POST", `/api/v1/conversations/${c.id}/messages`, { text: reply.value }), "primary"),
        act("Add internal note", () => api("POST", `/api/v1/conversations/${c.id}/messages`, { text: reply.value, internal: true })),
        esc.status === "open" ? act("Claim", () => api("POST", `/api/v1/escalations/${esc.id}/claim`)) : null,
        act("Hand back to bot", () => api("POST", `/api/v1/conversations/${c.id}/handback`)),
        act("Resolve", () => api("POST", `/api/v1/conversations/${c.id}/resolve`, {})))),
    el("div", { class: "card" },
      el("h2", {}, contact.contact?.name || "Customer"),
      el("div", {}, (contact.identities || []).map((i) => el("div", {}, el("span", { class: `badge ${i.channel}` }, i.channel), i.external_id))),
      el("h3", {}, "Memory"),
      el("ul", {}, (contact.facts || []).map((f) => el("li", {}, `${f.key}: ${f.value} `,
        act("Forget", () => api("DELETE", `/api/v1/contacts/${contactId}/facts/${f.id}`), "link")))),
      contact.contact?.memory_summary ? el("div", { class: "summary" }, contact.contact.memory_summary) : null));
}

// Playground ----------------------------------------------------------------------------------

$("#play-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const customer = {};
  for (const k of ["name", "phone", "email"]) if (f.get(k)) customer[k] = f.get(k);
  const log = $("#play-log");
  try {
    const r = await api("POST", "/api/v1/playground/messages", { channel: f.get("channel"), customer, text: f.get("text") });
    const t = r.trace || {};
    log.prepend(el("div", { class: "card" },
      el("div", { class: "msg customer" }, f.get("text")),
      el("div", { class: "msg bot" }, r.reply || "(no reply)"),
      el("div", { class: "muted" }, `Decision: ${r.decision}${r.reason ? ` — ${r.reason}` : ""} · support ${Number(t.support || 0).toFixed(2)} · ${t.timings_ms?.total ?? "?"} ms`),
      el("details", {}, el("summary", {}, "Trace: query, retrieved chunks, citations"), el("pre", {}, JSON.stringify(t, null, 2)))));
    e.target.text.value = "";
  } catch (err) { log.prepend(el("p", { class: "error" }, err.message)); }
});

// Knowledge -----------------------------------------------------------------------------------

async function loadSources() {
  let sources;
  try { sources = (await api("GET", "/api/v1/knowledge/sources")).sources; } catch { return; }
  const admin = state.me?.role === "admin";
  $("#sources").replaceChildren(...sources.map((s) => {
    const p = s.progress || {};
    const done = p.documents_done ?? p.done;
    const total = p.documents_total ?? p.total;
    const progress = total ? `${done ?? 0} / ${total} documents` : (p.phase || "");
    const act = (label, fn) => el("button", { class: "link", onclick: async () => {
      try { await fn(); loadSources(); } catch (err) { alert(err.message); } } }, label);
    return el("tr", {},
      el("td", {}, s.name), el("td", {}, s.kind),
      el("td", { class: s.status === "failed" ? "failed" : "" }, s.status, s.error ? ` — ${s.error}` : ""),
      el("td", {}, progress),
      el("td", {}, admin ? [act("Re-sync", () => api("POST", `/api/v1/knowledge/sources/${s.id}/resync`)), " ",
        act("Delete", () => confirm(`Delete ${s.name} and everything learnt from it?`) ? api("DELETE", `/api/v1/knowledge/sources/${s.id}`) : null)] : ""));
  }));
  for (const f of ["#snippet-form", "#crawl-form"]) for (const b of document.querySelectorAll(`${f} button`)) b.disabled = !admin;
}

$("#snippet-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const snippet = { question: f.get("question"), answer: f.get("answer") };
  const status = $("#snippet-status");
  try {
    const { sources } = await api("GET", "/api/v1/knowledge/sources");
    const own = sources.find((s) => s.kind === "snippets" && s.name === "Snippets");
    if (own) await api("POST", `/api/v1/knowledge/sources/${own.id}/snippets`, { snippets: [snippet] });
    else await api("POST", "/api/v1/knowledge/sources", { kind: "snippets", name: "Snippets", snippets: [snippet] });
    status.textContent = "Added: the bot can use it now.";
    e.target.reset();
    loadSources();
  } catch (err) { status.textContent = err.message; }
});

$("#crawl-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  try {
    await api("POST", "/api/v1/knowledge/sources", { kind: "web", name: f.get("name"), config: { start_url: f.get("start_url") } });
    $("#crawl-status").textContent = "Crawling; progress shows above.";
    loadSources();
  } catch (err) { $("#crawl-status").textContent = err.message; }
});

$("#search-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const { results } = await api("POST", "/api/v1/knowledge/search", { query: f.get("query"), limit: 5 });
  $("#search-results").replaceChildren(...results.map((r) => el("li", {},
    el("b", {}, r.chunk?.title || "(untitled)"), ` · score ${Number(r.score).toFixed(2)}`,
    el("div", { class: "muted" }, (r.chunk?.text || "").slice(0, 240)))));
});

// Analytics -----------------------------------------------------------------------------------

function pct(x) { return x === null || x === undefined ? "–" : `${Math.round(x * 100)}%`; }
function secs(t) { return t?.avg_seconds === null || t?.avg_seconds === undefined ? "–" : t.avg_seconds < 120 ? `${Math.round(t.avg_seconds)} s` : `${Math.round(t.avg_seconds / 60)} min`; }

async function loadAnalytics() {
  const [{ report }, { topics }] = await Promise.all([
    api("GET", "/api/v1/analytics/report"), api("GET", "/api/v1/analytics/unanswered"),
  ]);
  const o = report.overall;
  const figure = (label, value) => el("div", { class: "figure" }, el("b", {}, value), el("span", { class: "muted" }, label));
  $("#figures").replaceChildren(
    figure("conversations", o.conversations), figure("AI resolution rate", pct(o.ai_resolution_rate)),
    figure("escalation rate", pct(o.escalation_rate)), figure("deflection", pct(o.deflection_rate)),
    figure("first-contact resolution", pct(o.first_contact_resolution_rate)), figure("repeat contacts", pct(o.repeat_contact_rate)),
    figure("bot first response", secs(o.bot_first_response)), figure("human first response", secs(o.human_first_response)),
    figure("handle time", secs(o.handle_time)), figure("CSAT", o.csat.average ? `${o.csat.average.toFixed(1)} / 5` : "–"),
    figure("journeys", report.journeys.journeys), figure("multichannel journeys", report.journeys.multichannel));
  const days = report.by_day;
  const max = Math.max(1, ...days.map((d) => d.conversations));
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const w = Math.max(300, days.length * 28);
  svg.setAttribute("viewBox", `0 0 ${w} 140`);
  svg.setAttribute("width", String(w));
  svg.setAttribute("height", "140");
  days.forEach((d, i) => {
    for (const [value, color] of [[d.conversations, "#c7d6fb"], [d.ai_resolved, "#2f6fed"]]) {
      const h = (value / max) * 110;
      const r = document.createElementNS(ns, "rect");
      r.setAttribute("x", String(i * 28 + 4)); r.setAttribute("y", String(120 - h));
      r.setAttribute("width", "20"); r.setAttribute("height", String(h)); r.setAttribute("fill", color);
      const title = document.createElementNS(ns, "title");
      title.textContent = `${d.date}: ${d.conversations} conversations, ${d.ai_resolved} resolved by AI, ${d.escalated} escalated`;
      r.append(title);
      svg.append(r);
    }
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", String(i * 28 + 4)); t.setAttribute("y", "136"); t.setAttribute("font-size", "9");
    t.textContent = d.date.slice(5);
    svg.append(t);
  });
  $("#chart").replaceChildren(days.length ? svg : el("p", { class: "muted" }, "No conversations in the last 30 days."));
  $("#by-channel").replaceChildren(...Object.entries(report.by_channel).map(([ch, f]) => el("tr", {},
    el("td", {}, el("span", { class: `badge ${ch}` }, ch)), el("td", {}, f.conversations), el("td", {}, pct(f.ai_resolution_rate)),
    el("td", {}, pct(f.escalation_rate)), el("td", {}, pct(f.first_contact_resolution_rate)),
    el("td", {}, f.csat.average ? `${f.csat.average.toFixed(1)} (${f.csat.responses})` : "–"))));
  $("#paths").replaceChildren(...Object.entries(report.journeys.paths).sort((a, b) => b[1] - a[1])
    .map(([path, n]) => el("tr", {}, el("td", {}, path), el("td", {}, n))));
  $("#topics").replaceChildren(...(topics.length ? topics.map((t) => el("li", {}, el("b", {}, t.label), ` — ${t.count} question${t.count > 1 ? "s" : ""} (${t.channels.join(", ")})`))
    : [el("li", { class: "muted" }, "Every question found an answer.")]));
}

start();
