// The agents' and admins' app: sign-in, the escalation inbox with the customer's cross-channel
// timeline, the playground, knowledge, analytics and settings pages. The agents' workspace
// (canned replies, tasks, presence, the bell) is in desk.js; what both share in common.js.

import { $, state, el, api, ago, onSignedOut } from "/app/common.js";
import { startDesk, stopDesk, cannedPicker, followUps, loadTasks, loadReplies, loadRouting } from "/app/desk.js";

function showLogin() {
  $("#app").hidden = true;
  $("#login").hidden = false;
  clearInterval(state.timer);
  state.events?.close();
  state.events = null;
  stopDesk();
}
onSignedOut(showLogin);

async function start() {
  try {
    const me = await fetch("/api/v1/auth/me", { credentials: "same-origin" });
    if (!me.ok) return showLogin();
    const data = await me.json();
    state.me = data;
    state.csrf = data.csrf_token;
    $("#me").textContent = `${data.name || data.email} · ${data.role}`;
    $("#nav-settings").hidden = data.role !== "admin";
    $("#login").hidden = true;
    $("#app").hidden = false;
    listen();
    startDesk(state.events);
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
  for (const p of ["inbox", "tasks", "replies", "playground", "knowledge", "analytics", "settings"]) $(`#page-${p}`).hidden = p !== page;
  for (const a of document.querySelectorAll(".nav a")) a.classList.toggle("on", a.dataset.page === page);
  clearInterval(state.timer);
  if (page === "inbox") { loadInbox(); state.timer = setInterval(loadInbox, 15000); }
  if (page === "tasks") loadTasks();
  if (page === "replies") loadReplies();
  if (page === "analytics") loadAnalytics();
  if (page === "knowledge") { loadSources(); state.timer = setInterval(loadSources, 3000); }
  if (page === "settings") loadSettings();
}

// Live updates: the server's event stream says when escalations or messages change; polling
// above is only the fallback when the stream is down.
function listen() {
  if (state.events) return;
  state.events = new EventSource("/api/v1/events");
  const refresh = () => {
    if ($("#page-inbox").hidden) return;
    loadInbox();
    if (state.selected && !typingInDetail()) openEscalation(state.selected, { background: true });
  };
  // Sent on every (re)connection: re-read what may have changed while the stream was down.
  state.events.addEventListener("ready", refresh);
  state.events.addEventListener("escalation", refresh);
  state.events.addEventListener("message", refresh);
}

// A page the browser keeps for Back (the back-forward cache) would hold its stream open, and
// browsers allow only six connections to one server: a few such pages and the app hangs.
window.addEventListener("pagehide", () => { state.events?.close(); state.events = null; });
window.addEventListener("pageshow", (e) => { if (e.persisted && state.me) { listen(); startDesk(state.events); } });

// A task or a notification names a conversation; the inbox shows it through its escalation.
document.addEventListener("rapport:open-escalation", (e) => {
  history.pushState(null, "", "/app/inbox");
  route();
  openEscalation(e.detail.id);
});

// Inbox ---------------------------------------------------------------------------------------

for (const b of document.querySelectorAll("#tabs button")) {
  b.addEventListener("click", () => {
    for (const o of document.querySelectorAll("#tabs button")) o.classList.toggle("on", o === b);
    state.status = b.dataset.status;
    loadInbox();
  });
}

async function loadTeamMembers() {
  if (state.team) return state.team;
  try { state.team = (await api("GET", "/api/v1/team")).members; } catch { state.team = []; }
  return state.team;
}

async function loadInbox() {
  await loadTeamMembers();
  const q = state.status ? `?status=${state.status}` : "";
  let list;
  try { list = (await api("GET", `/api/v1/escalations${q}`)).escalations; } catch { return; }
  if (state.status === "claimed") list = list.filter((e) => e.assignee_id === state.me.user_id);
  const ul = $("#escalations");
  ul.replaceChildren(...list.map((e) => el("li", { class: e.id === state.selected ? "on" : "", "data-id": e.id, onclick: () => openEscalation(e.id) },
    el("span", { class: "wait", title: "waiting since" }, ago(e.created_at)),
    el("div", { class: "who" }, e.channel ? el("span", { class: `badge ${e.channel}` }, e.channel) : null,
      (e.summary || "").split(" · ")[0] || `Conversation ${e.conversation_id}`),
    e.assignee_id ? el("div", { class: "reason" }, `with ${e.assignee_id === state.me.user_id ? "you" : (state.team?.find((m) => m.id === e.assignee_id)?.name || "a colleague")}`) : null,
    el("div", { class: "reason" }, e.reason),
    slaBadge(e))));
  $("#empty").hidden = list.length > 0;
}

// The SLA target in force: first response until an agent replied, then resolution. Amber when
// less than a fifth of an hour is left, red once missed.
function slaBadge(e) {
  const parts = [];
  if (e.priority && e.priority !== "normal") parts.push(el("span", { class: `badge priority ${e.priority}` }, e.priority));
  if (e.status !== "resolved") {
    const pending = !e.first_response_at ? ["first reply", e.first_response_due_at] : ["resolution", e.resolution_due_at];
    if (pending[1]) {
      const left = (new Date(pending[1]) - Date.now()) / 60000;
      const when = Math.abs(left) < 60 ? `${Math.round(Math.abs(left))} min` : Math.abs(left) < 1440 ? `${Math.round(Math.abs(left) / 60)} h` : `${Math.round(Math.abs(left) / 1440)} d`;
      const cls = left < 0 ? "breached" : left < 15 ? "soon" : "ok";
      parts.push(el("span", { class: `sla ${cls}`, title: `${pending[0]} due ${new Date(pending[1]).toLocaleString()}` },
        left < 0 ? `${pending[0]} overdue ${when}` : `${pending[0]} in ${when}`));
    }
  }
  if (e.sla_breached_at && !parts.some((p) => p.classList?.contains("breached"))) parts.push(el("span", { class: "sla breached" }, "SLA missed"));
  return parts.length ? el("div", { class: "sla-line" }, parts) : null;
}

// An agent typing in the open conversation (a reply, a fact, a search) must not have the view
// replaced under them by a live update.
function typingInDetail() {
  const active = document.activeElement;
  return ["TEXTAREA", "INPUT", "SELECT"].includes(active?.tagName) && $("#detail").contains(active);
}

async function openEscalation(id, { background = false } = {}) {
  state.selected = id;
  for (const li of document.querySelectorAll("#escalations li")) li.classList.toggle("on", Number(li.dataset.id) === id);
  const esc = await api("GET", `/api/v1/escalations/${id}`);
  const conv = await api("GET", `/api/v1/conversations/${esc.conversation_id}`);
  const contactId = conv.conversation.contact_id;
  const [timeline, contact] = await Promise.all([
    api("GET", `/api/v1/contacts/${contactId}/timeline`),
    api("GET", `/api/v1/contacts/${contactId}`),
  ]);
  // The agent may have started typing, or opened another conversation, while this was read.
  if (background && (typingInDetail() || state.selected !== id)) return;
  renderDetail(esc, conv, timeline, contact);
}

// The reply box of the open conversation outlives re-renders of it (focus, cursor and the canned
// picker stay), and what was written is kept per conversation when the agent looks elsewhere.
function composerFor(c) {
  if (state.composer?.id === c.id) return state.composer;
  const reply = el("textarea", { rows: "3", placeholder: `Reply on ${c.channel}… (type / for a canned reply)` });
  reply.value = state.drafts[c.id] || "";
  reply.addEventListener("input", () => { state.drafts[c.id] = reply.value; });
  state.composer = { id: c.id, reply, picker: cannedPicker(reply, c.id) };
  return state.composer;
}

async function sendFromDetail(conversationId, reply, internal) {
  await api("POST", `/api/v1/conversations/${conversationId}/messages`, { text: reply.value, ...(internal ? { internal: true } : {}) });
  delete state.drafts[conversationId];
  reply.value = "";
}

function renderDetail(esc, conv, timeline, contact) {
  const c = conv.conversation;
  const messages = timeline.messages;
  const contactId = contact.contact?.id ?? c.contact_id;
  const { reply, picker } = composerFor(c);
  const setReply = (text) => { reply.value = text; reply.dispatchEvent(new Event("input")); };
  // The copilot: a reply to the latest customer message from the knowledge, and a summary.
  const copilotOut = el("div", { class: "copilot", hidden: "" });
  const copilot = (label, path, show) => el("button", { class: "link", onclick: async (e) => {
    e.target.disabled = true;
    try { show(await api("POST", `/api/v1/conversations/${c.id}/copilot/${path}`)); } catch (err) { copilotOut.hidden = false; copilotOut.replaceChildren(err.message); }
    finally { e.target.disabled = false; }
  } }, label);
  const suggest = copilot("Suggest a reply", "reply", (r) => {
    copilotOut.hidden = false;
    if (!r.text) { copilotOut.replaceChildren("The knowledge has nothing on the customer's last message."); return; }
    setReply(r.text);
    copilotOut.replaceChildren(r.supported ? "Suggested from: " : "The knowledge may not answer this; check before sending. Sources: ",
      ...r.citations.map((s) => s.url ? el("a", { href: s.url, target: "_blank", rel: "noopener" }, s.title || "source") : el("span", {}, s.title || "source")));
  });
  const summarise = copilot("Summarise", "summary", (r) => { copilotOut.hidden = false; copilotOut.replaceChildren(el("div", { class: "summary" }, r.summary)); });
  // Translation needs a language model; without one the server says so.
  const language = el("select", { "aria-label": "Translate the reply into" },
    ["English", "Spanish", "French", "German", "Portuguese", "Italian", "Dutch", "Arabic", "Chinese", "Japanese"].map((l) => el("option", { value: l }, l)));
  const translate = el("button", { class: "link", onclick: async (e) => {
    if (!reply.value.trim()) return;
    e.target.disabled = true;
    try { setReply((await api("POST", "/api/v1/copilot/translate", { text: reply.value, target: language.value })).text); }
    catch (err) { copilotOut.hidden = false; copilotOut.replaceChildren(err.message); }
    finally { e.target.disabled = false; }
  } }, "Translate the reply into");
  const readAs = navigator.language?.startsWith("es") ? "Spanish" : navigator.language?.startsWith("fr") ? "French" : navigator.language?.startsWith("de") ? "German" : "English";
  const translateMessage = (m) => el("button", { class: "link", onclick: async (e) => {
    const at = e.target;
    try {
      const t = await api("POST", "/api/v1/copilot/translate", { text: m.text, target: readAs });
      at.replaceWith(el("div", { class: "translation" }, `${t.source_language ? `${t.source_language} → ${readAs}: ` : ""}${t.text}`));
    } catch (err) { at.textContent = err.message; }
  } }, "Translate");
  const act = (label, fn, cls = "") => el("button", { class: cls, onclick: async (e) => {
    e.target.disabled = true;
    try { await fn(); await openEscalation(esc.id); loadInbox(); } catch (err) { alert(err.message); } finally { e.target.disabled = false; }
  } }, label);
  const sources = (esc.context?.sources || []).filter((s) => s.title);
  const assign = el("select", { "aria-label": "Assign to" }, el("option", { value: "" }, "Assign to…"),
    (state.team || []).map((m) => el("option", { value: String(m.id), ...(m.id === esc.assignee_id ? { selected: "" } : {}) }, `${m.name || m.email}${m.id === state.me.user_id ? " (you)" : ""}`)));
  const factKey = el("input", { placeholder: "key (plan, order_number…)" });
  const factValue = el("input", { placeholder: "value" });
  const found = el("ul", { class: "found" });
  const search = el("input", { type: "search", placeholder: "Find by name, e-mail, phone or channel id" });
  search.addEventListener("input", () => {
    clearTimeout(state.searchTimer);
    state.searchTimer = setTimeout(async () => {
      const q = search.value.trim();
      if (q.length < 2) { found.replaceChildren(); return; }
      let contacts = [];
      try { contacts = (await api("GET", `/api/v1/contacts?q=${encodeURIComponent(q)}`)).contacts; } catch { return; }
      found.replaceChildren(...contacts.filter((o) => o.id !== contactId).map((o) => el("li", {},
        `#${o.id} ${o.name || "(no name)"}${o.email ? ` · ${o.email}` : ""}${o.phone ? ` · ${o.phone}` : ""} `,
        act("Merge into this customer", () => confirm(`Merge #${o.id} into #${contactId}? Their timelines and memory become one.`)
          ? api("POST", `/api/v1/contacts/${contactId}/merge`, { contact_id: o.id }) : null, "link"))));
      if (!found.children.length) found.append(el("li", { class: "muted" }, "No other customer matches."));
    }, 250);
  });
  const focused = document.activeElement === reply ? [reply.selectionStart, reply.selectionEnd] : null;
  $("#detail").replaceChildren(
    el("div", { class: "card" },
      el("h2", {}, esc.reason),
      el("div", { class: "muted" }, `Status: ${c.status.replace("_", " ")} · escalated ${ago(esc.created_at)}${ago(esc.created_at) === "just now" ? "" : " ago"}`),
      slaBadge(esc),
      esc.status !== "resolved" ? el("label", { class: "inline-select" }, "Priority ", el("select", { "aria-label": "Priority", onchange: async (ev) => {
        try { await api("POST", `/api/v1/escalations/${esc.id}/priority`, { priority: ev.target.value }); await openEscalation(esc.id); loadInbox(); } catch (err) { alert(err.message); }
      } }, ["normal", "high", "urgent"].map((p) => el("option", { value: p, ...(p === esc.priority ? { selected: "" } : {}) }, p)))) : null,
      el("h3", {}, "Journey"), el("div", { class: "summary" }, esc.summary),
      sources.length ? el("div", { class: "sources" }, el("h3", {}, "Sources the bot consulted"),
        sources.map((s) => s.url ? el("a", { href: s.url, target: "_blank", rel: "noopener" }, s.title) : el("span", {}, s.title))) : null,
      esc.draft ? el("div", {}, el("h3", {}, "Bot's draft"), el("div", { class: "summary" }, esc.draft),
        el("button", { class: "link", onclick: () => { setReply(esc.draft); reply.focus(); } }, "Use this draft")) : null),
    el("div", { class: "card" },
      el("h2", {}, "Timeline on every channel"),
      el("ul", { class: "timeline" }, [
        ...messages.map((m) => ({ at: m.created_at, node: el("li", { class: `msg ${m.internal_note ? "note" : m.author}` },
          el("div", { class: "meta" }, el("span", { class: `badge ${m.channel}` }, m.channel), `${m.author} · ${ago(m.created_at)}`,
            m.delivery_status ? ` · ${m.delivery_status}` : ""),
          // A one-time code is the customer's secret, not the team's reading.
          el("div", {}, m.kind === "verification_code" ? "One-time code sent to the customer (hidden)" : m.text),
          m.author === "customer" && m.text ? translateMessage(m) : null,
          m.delivery_error ? el("div", { class: "failed" }, m.delivery_error,
            m.delivery_status === "failed" ? act("Retry", () => api("POST", `/api/v1/messages/${m.id}/retry`), "link") : null) : null) })),
        // Routing, assignments (with why), priority and SLA alerts.
        ...(conv.events || []).map((ev) => ({ at: ev.created_at, node: el("li", { class: `event ${ev.kind}` },
          el("div", { class: "meta" }, `${ev.kind.replace("_", " ")} · ${ago(ev.created_at)}`),
          el("div", {}, ev.detail?.why || (ev.kind === "sla_breached" ? "An SLA target was missed" : ev.kind === "sla_at_risk" ? "The first reply is due soon" : ev.kind))) })),
        // The calls the bot's actions made: events on the timeline, not messages.
        ...(conv.actions || []).map((a) => ({ at: a.created_at, node: el("li", { class: "event action" },
          el("div", { class: "meta" }, `action · ${ago(a.created_at)}`),
          el("div", {}, `${a.action_name}: ${a.outcome}${a.http_status ? ` (HTTP ${a.http_status}, ${a.latency_ms} ms)` : ""}`,
            a.confirmed_by ? " · confirmed by the customer" : "", a.error ? ` — ${a.error}` : a.summary ? ` — ${a.summary}` : "")) })),
      ].sort((x, y) => new Date(x.at) - new Date(y.at)).map((i) => i.node))),
    el("div", { class: "card reply" },
      reply, picker,
      el("div", { class: "copilot-actions" }, suggest, summarise, el("span", { class: "translate" }, translate, language)), copilotOut,
      el("div", { class: "actions" },
        act("Send reply", () => sendFromDetail(c.id, reply, false), "primary"),
        act("Add internal note", () => sendFromDetail(c.id, reply, true)),
        esc.status === "open" ? act("Claim", () => api("POST", `/api/v1/escalations/${esc.id}/claim`)) : null,
        esc.status !== "resolved" ? el("span", { class: "assign" }, assign,
          act("Assign", () => assign.value ? api("POST", `/api/v1/escalations/${esc.id}/assign`, { user_id: Number(assign.value) }) : null)) : null,
        act("Hand back to bot", () => api("POST", `/api/v1/conversations/${c.id}/handback`)),
        act("Resolve", () => api("POST", `/api/v1/conversations/${c.id}/resolve`, {})))),
    followUps({ conversationId: c.id, tasks: timeline.tasks || [], reload: () => openEscalation(esc.id) }),
    el("div", { class: "card" },
      el("h2", {}, contact.contact?.name || "Customer"),
      el("div", {}, (contact.identities || []).map((i) => el("div", {}, el("span", { class: `badge ${i.channel}` }, i.channel), i.external_id))),
      el("div", { class: "muted" }, `Contact #${contactId}`),
      el("h3", {}, "Memory"),
      el("ul", {}, (contact.facts || []).map((f) => {
        const value = el("input", { value: f.value, "aria-label": f.key });
        return el("li", { class: "fact" }, `${f.key}:`, value,
          act("Save", () => api("PUT", `/api/v1/contacts/${contactId}/facts/${f.id}`, { key: f.key, value: value.value }), "link"),
          act("Forget", () => api("DELETE", `/api/v1/contacts/${contactId}/facts/${f.id}`), "link"));
      })),
      el("div", { class: "fact" }, factKey, factValue,
        act("Add", () => api("POST", `/api/v1/contacts/${contactId}/facts`, { key: factKey.value, value: factValue.value }), "link")),
      el("h3", {}, "Same person elsewhere?"),
      search, found,
      (contact.merged_contacts || []).length ? el("div", {}, "Merged: ", contact.merged_contacts.map((m) =>
        el("span", {}, `#${m} `, act("Unmerge", () => api("POST", `/api/v1/contacts/${m}/unmerge`), "link"), " "))) : null,
      contact.contact?.memory_summary ? el("div", { class: "summary" }, contact.contact.memory_summary) : null));
  if (focused) { reply.focus(); reply.setSelectionRange(...focused); }
}

// Playground ----------------------------------------------------------------------------------

$("#play-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const customer = {};
  for (const k of ["name", "phone", "email"]) if (f.get(k)) customer[k] = f.get(k);
  const log = $("#play-log");
  try {
    const r = await api("POST", "/api/v1/playground/messages", { channel: f.get("channel"), customer, signed: f.get("signed") === "on", text: f.get("text") });
    const t = r.trace || {};
    log.prepend(el("div", { class: "card" },
      el("div", { class: "msg customer" }, f.get("text")),
      el("div", { class: "msg bot" }, r.reply || "(no reply)"),
      t.action ? el("div", { class: "action-call" }, actionText(t.action)) : null,
      el("div", { class: "muted" }, `Decision: ${r.decision}${r.reason ? ` — ${r.reason}` : ""} · intent ${t.intent?.name ?? "–"} · answerable ${t.answerability ? Number(t.answerability.probability).toFixed(2) : "–"} · ${t.timings_ms?.total ?? "?"} ms`),
      el("details", {}, el("summary", {}, "Trace: query, retrieved chunks, citations"), traceView(t))));
    e.target.text.value = "";
  } catch (err) { log.prepend(el("p", { class: "error" }, err.message)); }
});

// "Action order_status: GET https://shop.example/orders/4821 → 200 in 84 ms (ok; identity by channel)".
function actionText(a) {
  const steps = { asked: `asked for ${a.asked}`, confirm: "asked to confirm", code_sent: `sent a code to ${a.code_to}`,
    wrong_code: "wrong code", code_locked: "too many wrong codes", code_throttled: "too many codes",
    declined: "the customer said no", refused: "refused: not this customer's data", rate_limited: "over its hourly limit",
    cannot_verify: "no address on file to verify" };
  const call = a.call ? `${a.call.method || ""} ${a.call.url || ""} → ${a.call.status ?? a.call.error ?? "?"}${a.call.latency_ms !== undefined ? ` in ${a.call.latency_ms} ms` : ""} (${a.call.outcome || "?"})` : "";
  const test = a.test_code ? ` · test code ${a.test_code}` : "";
  return `Action ${a.name}: ${a.step === "called" ? call : steps[a.step] || a.step}${a.identity ? ` · identity by ${a.identity}` : " · identity not proven"}${test}`;
}

// "billing_dispute 0.71 (by examples; next: question 0.64)".
function intentText(i) {
  if (!i) return "–";
  const next = i.runner_up ? `; next: ${i.runner_up.name} ${Number(i.runner_up.score).toFixed(2)}` : "";
  const trigger = i.trigger ? ` → ${i.trigger}` : "";
  return `${i.name} ${Number(i.score || 0).toFixed(2)} (by ${i.by}${next})${trigger}`;
}

// "answerable: 0.83 (answers from 0.50) · not in the knowledge: hubspot".
function answerabilityText(a) {
  if (!a) return "not judged (the message did not need the knowledge)";
  const verdict = a.answerable ? "answerable" : "not answerable";
  const absent = (a.absent || []).length ? ` · not in the knowledge: ${a.absent.join(", ")}` : "";
  return `${verdict}: ${Number(a.probability).toFixed(2)} (answers from ${Number(a.threshold).toFixed(2)})${absent}`;
}

function featuresText(a) {
  if (!a || !a.features) return "–";
  return Object.entries(a.features).map(([k, v]) => `${k.replace("_", " ")} ${Number(v).toFixed(2)}`).join(" · ");
}

function traceView(t) {
  const cited = new Set(t.citations || []);
  const timings = Object.entries(t.timings_ms || {}).map(([k, v]) => `${k} ${v} ms`).join(" · ");
  return el("div", { class: "trace" },
    el("dl", {},
      el("dt", {}, "Decision"), el("dd", {}, `${t.decision}${t.reason ? ` — ${t.reason}` : ""}`),
      t.action ? [el("dt", {}, "Action"), el("dd", { class: "action" }, actionText(t.action))] : null,
      el("dt", {}, "Intent"), el("dd", { class: "intent" }, intentText(t.intent)),
      el("dt", {}, "Closest examples"), el("dd", {}, el("ol", { class: "nearest" }, (t.intent?.nearest || []).slice(0, 3).map((n) =>
        el("li", {}, `${n.intent} (${n.lang}, ${Number(n.similarity || 0).toFixed(2)}): ${n.text}`)))),
      el("dt", {}, "Language"), el("dd", {}, t.language || "–"),
      el("dt", {}, "Query as searched"), el("dd", {}, t.query?.rewritten ?? "–"),
      el("dt", {}, "Answerability"), el("dd", { class: "answerability" }, answerabilityText(t.answerability)),
      el("dt", {}, "Measured"), el("dd", { class: "features" }, featuresText(t.answerability)),
      el("dt", {}, "Support"), el("dd", {}, Number(t.support || 0).toFixed(2)),
      el("dt", {}, "Model"), el("dd", {}, `${t.model || "–"}${(t.prompts || []).map((p) => ` · ${p.name} v${p.version}`).join("")}`),
      el("dt", {}, "Timings"), el("dd", {}, timings || "–"),
      el("dt", {}, "Customer context"), el("dd", {}, `${t.context?.turns ?? 0} earlier turns on ${(t.context?.channels || []).join(", ") || "no channel"}`)),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Retrieved"), el("th", {}, "Score"), el("th", {}, "Similarity"),
      el("th", { title: "question against the document's title" }, "Title"), el("th", { title: "the question's words against the chunk's, one by one" }, "Words"), el("th", {}, "Cited"))),
      el("tbody", {}, (t.retrieved || []).map((r) => el("tr", { class: cited.has(r.chunk_id) ? "cited" : "" },
        el("td", {}, r.url ? el("a", { href: r.url, target: "_blank", rel: "noopener" }, r.title || r.url) : (r.title || `chunk ${r.chunk_id}`),
          r.heading_path ? el("div", { class: "muted" }, r.heading_path) : null),
        el("td", {}, Number(r.score || 0).toFixed(3)), el("td", {}, Number(r.similarity || 0).toFixed(2)),
        el("td", {}, Number(r.title_similarity || 0).toFixed(2)), el("td", {}, Number(r.token_match || 0).toFixed(2)),
        el("td", {}, cited.has(r.chunk_id) ? "yes" : ""))))),
    el("details", {}, el("summary", {}, "Raw trace (JSON)"), el("pre", {}, JSON.stringify(t, null, 2))));
}

$("#batch-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  let lines = f.questions.value.split("\n");
  const file = f.file.files[0];
  if (file) {
    const text = await file.text();
    const rows = text.split(/\r?\n/);
    lines = lines.concat(file.name.endsWith(".csv")
      ? rows.slice(1).map((r) => (r.startsWith('"') ? r.slice(1, r.indexOf('"', 1)) : r.split(",")[0]))
      : rows);
  }
  const questions = lines.map((l) => l.trim()).filter(Boolean);
  const status = $("#batch-status");
  if (!questions.length) { status.textContent = "Write or upload at least one question."; return; }
  status.textContent = `Asking ${questions.length} question${questions.length === 1 ? "" : "s"}…`;
  try {
    const body = { questions, channel: f.channel.value };
    const { rows } = await api("POST", "/api/v1/playground/batch", body);
    const answered = rows.filter((r) => r.decision === "answered").length;
    status.textContent = `${answered} of ${rows.length} answered, ${rows.filter((r) => r.decision === "escalated").length} handed to a person.`;
    $("#batch-table").hidden = false;
    $("#batch-rows").replaceChildren(...rows.map((r) => el("tr", {},
      el("td", {}, r.question), el("td", {}, r.decision, r.reason ? el("div", { class: "muted" }, r.reason) : null),
      el("td", {}, (r.answer || "").slice(0, 200)), el("td", {}, r.citations.join("; ")),
      el("td", {}, r.answerability == null ? "–" : Number(r.answerability).toFixed(2)))));
    // The same table as the API's ?format=csv, built here so the batch is not asked twice.
    const q = (v) => `"${String(v ?? "").replace(/^([=+\-@])/, "'$1").replaceAll('"', '""')}"`;
    const csv = [["question", "decision", "reason", "answer", "citations", "support", "answerability", "top_similarity", "total_ms"].join(",")]
      .concat(rows.map((r) => [r.question, r.decision, r.reason, r.answer, r.citations.join("; "), r.support, r.answerability, r.top_similarity, r.total_ms].map(q).join(",")))
      .join("\r\n");
    const link = $("#batch-csv");
    link.href = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
    link.hidden = false;
  } catch (err) { status.textContent = err.message; }
});

// Knowledge -----------------------------------------------------------------------------------

async function loadSources() {
  let sources;
  try { sources = (await api("GET", "/api/v1/knowledge/sources")).sources; } catch { return; }
  const admin = state.me?.role === "admin";
  $("#sources").replaceChildren(...sources.map((s) => {
    const p = s.progress || {};
    const done = p.documents_done ?? p.pages_done ?? p.done;
    const total = p.documents_total ?? p.pages_known ?? p.total;
    const running = s.status === "running" || s.status === "queued";
    const bar = total ? el("div", { class: "progress", title: `${done ?? 0} / ${total}` }, el("i", { style: { width: `${Math.round(100 * (done ?? 0) / total)}%` } })) : null;
    const label = total ? `${done ?? 0} / ${total} ${p.phase === "crawling" ? "pages" : "documents"}` : (p.phase || "");
    const skipped = p.crawl?.skipped_over_limit ? ` · ${p.crawl.skipped_over_limit} over the page limit` : "";
    const act = (label, fn) => el("button", { class: "link", onclick: async () => {
      try { await fn(); loadSources(); } catch (err) { alert(err.message); } } }, label);
    return el("tr", {},
      el("td", {}, el("button", { class: "link", onclick: () => openSource(s) }, s.name)), el("td", {}, s.kind),
      el("td", { class: s.status === "failed" ? "failed" : "" }, s.status, s.error ? ` — ${s.error}` : ""),
      el("td", {}, running || total ? [bar, el("span", { class: "muted" }, label + skipped)] : label),
      el("td", {}, admin ? [act("Re-sync", () => api("POST", `/api/v1/knowledge/sources/${s.id}/resync`)), " ",
        act("Delete", () => confirm(`Delete ${s.name} and everything learnt from it?`) ? api("DELETE", `/api/v1/knowledge/sources/${s.id}`) : null)] : ""));
  }));
  for (const f of ["#snippet-form", "#crawl-form", "#upload-form", "#articles-form"]) for (const b of document.querySelectorAll(`${f} button`)) b.disabled = !admin;
  $("#mine").disabled = !admin;
  loadCandidates();
}

async function openSource(source) {
  const { total, documents } = await api("GET", `/api/v1/knowledge/sources/${source.id}/documents?limit=200`);
  $("#documents-card").hidden = false;
  $("#documents-title").textContent = `${source.name}: ${total} document${total === 1 ? "" : "s"}`;
  $("#chunks").replaceChildren();
  const admin = state.me?.role === "admin";
  // One snippet or one document is edited or removed on its own, not only its whole source.
  const remove = (d) => el("button", { class: "link", onclick: async () => {
    if (!confirm(`Remove "${d.title || d.external_ref}" from what the bot knows?`)) return;
    try { await api("DELETE", `/api/v1/knowledge/sources/${source.id}/documents/${d.id}`); openSource(source); loadSources(); } catch (err) { alert(err.message); }
  } }, "Delete");
  const editable = (d) => source.kind === "snippets" && typeof d.metadata?.question === "string";
  $("#documents").replaceChildren(...documents.map((d) => el("tr", { "data-id": d.id },
    el("td", {}, el("button", { class: "link", onclick: () => openDocument(source.id, d.id) }, d.title || d.external_ref),
      d.url ? el("div", { class: "muted" }, d.url) : null),
    el("td", {}, d.chunk_count), el("td", {}, ago(d.updated_at)),
    el("td", {}, admin && editable(d) ? el("button", { class: "link", onclick: () => editSnippet(source, d) }, "Edit") : null, " ",
      admin ? remove(d) : null))));
  $("#documents-card").scrollIntoView({ behavior: "smooth" });
}

function editSnippet(source, d) {
  const question = el("textarea", { rows: "2", name: "question" }, d.metadata.question);
  const answer = el("textarea", { rows: "4", name: "answer" }, d.metadata.answer || "");
  const status = el("span", { class: "muted" });
  const form = el("form", { class: "snippet-edit", onsubmit: async (e) => {
    e.preventDefault();
    try {
      await api("PUT", `/api/v1/knowledge/sources/${source.id}/snippets/${d.id}`, { question: question.value, answer: answer.value });
      await openSource(source);
      $("#chunks").replaceChildren(el("p", { class: "muted" }, `Saved "${question.value}": the bot answers with it now.`));
    } catch (err) { status.textContent = err.message; }
  } }, el("label", {}, "Question ", question), el("label", {}, "Answer ", answer),
    el("button", { type: "submit", class: "primary" }, "Save the snippet"), " ", status);
  $("#chunks").replaceChildren(el("h3", {}, "Edit the snippet"), form);
}

async function openDocument(sourceId, docId) {
  const { document: d, chunks } = await api("GET", `/api/v1/knowledge/sources/${sourceId}/documents/${docId}`);
  $("#chunks").replaceChildren(el("h3", {}, `${d.title}: ${chunks.length} chunk${chunks.length === 1 ? "" : "s"} as the bot sees them`),
    ...chunks.map((c) => el("div", { class: "summary", style: { margin: "8px 0" } },
      el("div", { class: "muted" }, [c.heading_path || d.title, c.page ? `page ${c.page}` : null].filter(Boolean).join(" · ")), c.text)));
}

$("#upload-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  const status = $("#upload-status");
  try {
    const source = await api("POST", "/api/v1/knowledge/sources", { kind: "files", name: f.name.value, config: { csv_mode: f.csv_mode.value } });
    const form = new FormData();
    for (const file of f.files.files) form.append("file", file, file.name);
    await api("POST", `/api/v1/knowledge/sources/${source.id}/files`, form);
    status.textContent = "Uploaded; reading and indexing shows above.";
    f.files.value = "";
    loadSources();
  } catch (err) { status.textContent = err.message; }
});

$("#articles-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  try {
    await api("POST", "/api/v1/knowledge/sources", { kind: "articles", name: f.name.value, config: { path: f.path.value } });
    $("#articles-status").textContent = "Importing; progress shows above.";
    loadSources();
  } catch (err) { $("#articles-status").textContent = err.message; }
});

$("#mine").addEventListener("click", async () => {
  const status = $("#mine-status");
  try {
    const { sources } = await api("GET", "/api/v1/knowledge/sources");
    const own = sources.find((s) => s.kind === "conversations" && s.config?.mine_resolved !== false && !s.config?.auto_approve);
    if (own) await api("POST", `/api/v1/knowledge/sources/${own.id}/resync`);
    else await api("POST", "/api/v1/knowledge/sources", { kind: "conversations", name: "Resolved conversations", config: { mine_resolved: true } });
    status.textContent = "Looking; suggestions appear below.";
    loadSources();
  } catch (err) { status.textContent = err.message; }
});

async function loadCandidates() {
  let candidates;
  try { candidates = (await api("GET", "/api/v1/knowledge/candidates?status=pending")).candidates; } catch { return; }
  const ul = $("#candidates");
  // Keep what an admin is editing.
  if (ul.contains(document.activeElement)) return;
  const admin = state.me?.role === "admin";
  ul.replaceChildren(...(candidates.length ? candidates.map((c) => {
    // The text exactly as the bot will use it: names and numbers are already removed.
    const q = el("textarea", { rows: "2", class: "candidate-question" }, c.question);
    const a = el("textarea", { rows: "6", class: "candidate-answer" }, c.answer);
    const act = (label, fn, cls = "") => el("button", { class: cls, onclick: async () => {
      try { await fn(); loadCandidates(); loadSources(); } catch (err) { alert(err.message); } } }, label);
    return el("li", {}, el("label", {}, "Question", q), el("label", {}, "Answer", a),
      admin ? el("div", { class: "actions" },
        act("Approve", () => api("POST", `/api/v1/knowledge/candidates/${c.id}/approve`, { question: q.value, answer: a.value }), "primary"),
        act("Reject", () => api("POST", `/api/v1/knowledge/candidates/${c.id}/reject`))) : null);
  }) : [el("li", { class: "muted" }, "No suggestions waiting.")]));
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
    const config = { start_url: f.get("start_url") };
    const list = (v) => String(v || "").split(",").map((p) => p.trim()).filter(Boolean);
    if (f.get("max_pages")) config.max_pages = Number(f.get("max_pages"));
    if (f.get("max_depth")) config.max_depth = Number(f.get("max_depth"));
    if (f.get("sitemap_url")) config.sitemap_url = f.get("sitemap_url");
    if (list(f.get("include")).length) config.include = list(f.get("include"));
    if (list(f.get("exclude")).length) config.exclude = list(f.get("exclude"));
    await api("POST", "/api/v1/knowledge/sources", { kind: "web", name: f.get("name"), config });
    $("#crawl-status").textContent = "Crawling; progress shows above.";
    loadSources();
  } catch (err) { $("#crawl-status").textContent = err.message; }
});

$("#search-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const { results } = await api("POST", "/api/v1/knowledge/search", { query: f.get("query"), limit: 5 });
  // A result is the chunk's fields with its score (see POST /knowledge/search).
  $("#search-results").replaceChildren(...results.map((r) => el("li", {},
    r.url ? el("a", { href: r.url, target: "_blank", rel: "noopener" }, el("b", {}, r.title || "(untitled)")) : el("b", {}, r.title || "(untitled)"),
    ` · ${r.source_kind || "knowledge"} · score ${Number(r.score).toFixed(2)}`,
    el("div", { class: "muted" }, (r.text || "").slice(0, 240)))));
  if (!results.length) $("#search-results").append(el("li", { class: "muted" }, "Nothing in the knowledge matches."));
});

// Analytics -----------------------------------------------------------------------------------

function pct(x) { return x === null || x === undefined ? "–" : `${Math.round(x * 100)}%`; }
function secs(t) { return t?.avg_seconds === null || t?.avg_seconds === undefined ? "–" : t.avg_seconds < 120 ? `${Math.round(t.avg_seconds)} s` : `${Math.round(t.avg_seconds / 60)} min`; }

$("#analytics-filters").addEventListener("submit", (e) => { e.preventDefault(); loadAnalytics(); });

function analyticsQuery() {
  const f = $("#analytics-filters");
  if (!f.to.value) {
    const to = new Date();
    f.to.value = to.toISOString().slice(0, 10);
    f.from.value = new Date(to.getTime() - 29 * 86400000).toISOString().slice(0, 10);
  }
  const q = new URLSearchParams({ from: f.from.value, to: f.to.value });
  if (f.channel.value) q.set("channel", f.channel.value);
  return q;
}

async function loadAnalytics() {
  const q = analyticsQuery();
  let report, topics;
  try {
    [{ report }, { topics }] = await Promise.all([
      api("GET", `/api/v1/analytics/report?${q}`), api("GET", `/api/v1/analytics/unanswered?${q}`),
    ]);
  } catch (err) { $("#figures").replaceChildren(el("p", { class: "error" }, err.message)); return; }
  $("#csv").href = `/api/v1/analytics/report?${q}&format=csv`;
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
  $("#chart").replaceChildren(days.length ? svg : el("p", { class: "muted" }, "No conversations in this period."));
  $("#by-channel").replaceChildren(...Object.entries(report.by_channel).map(([ch, f]) => el("tr", {},
    el("td", {}, el("span", { class: `badge ${ch}` }, ch)), el("td", {}, f.conversations), el("td", {}, pct(f.ai_resolution_rate)),
    el("td", {}, pct(f.escalation_rate)), el("td", {}, pct(f.first_contact_resolution_rate)),
    el("td", {}, f.csat.average ? `${f.csat.average.toFixed(1)} (${f.csat.responses})` : "–"))));
  $("#paths").replaceChildren(...Object.entries(report.journeys.paths).sort((a, b) => b[1] - a[1])
    .map(([path, n]) => el("tr", {}, el("td", {}, path), el("td", {}, n))));
  $("#topics").replaceChildren(...(topics.length ? topics.map((t) => el("li", {}, el("b", {}, t.label), ` — ${t.count} question${t.count > 1 ? "s" : ""} (${t.channels.join(", ")})`))
    : [el("li", { class: "muted" }, "Every question found an answer.")]));
}

// Settings ------------------------------------------------------------------------------------

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const CREDENTIAL_LABELS = {
  whatsapp_phone_number_id: "WhatsApp phone number id", whatsapp_access_token: "WhatsApp access token",
  whatsapp_app_secret: "WhatsApp app secret (webhook signatures)", whatsapp_verify_token: "WhatsApp webhook verify token",
  instagram_account_id: "Instagram account id", instagram_access_token: "Instagram access token",
  instagram_app_secret: "Instagram app secret", instagram_verify_token: "Instagram webhook verify token",
  email_from: "E-mail replies come from", smtp_url: "SMTP URL (smtps://user:password@host:465)",
  identity_secret: "Web chat identity secret (signs logged-in visitors)",
};
$("#days").replaceChildren(...DAYS.map((d) => el("label", {}, el("input", { type: "checkbox", name: "day", value: d }), d)));
const settingsForm = $("#settings-form");
settingsForm.support_threshold.addEventListener("input", () => { $("#strictness-value").textContent = Number(settingsForm.support_threshold.value).toFixed(2); });
settingsForm.hours_on.addEventListener("change", () => { $("#hours").disabled = !settingsForm.hours_on.checked; });
// Handing over at once and a number of "I don't know" replies first are two answers to one
// question: only the one chosen can be set.
settingsForm.escalate_when_unsure.addEventListener("change", () => { settingsForm.max_unhelpful_replies.disabled = settingsForm.escalate_when_unsure.checked; });

// One topic a line: `refunds: refund, chargeback, "I was charged twice for one order"` — quoted
// entries are example messages, matched by meaning; the others are keywords.
function topicsText(topics) {
  return (topics || []).map((t) => `${t.name}: ${[...t.keywords, ...(t.examples || []).map((e) => `"${e}"`)].join(", ")}`).join("\n");
}
function topicsOf(text) {
  return text.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
    const at = l.indexOf(":");
    const name = (at < 0 ? l : l.slice(0, at)).trim();
    const rest = at < 0 ? l : l.slice(at + 1);
    const examples = [...rest.matchAll(/"([^"]+)"/g)].map((m) => m[1].trim()).filter(Boolean);
    const keywords = rest.replace(/"[^"]*"/g, "").split(",").map((k) => k.trim()).filter(Boolean);
    return { name, keywords, examples };
  });
}

// Actions -----------------------------------------------------------------------------------

const ACTION_TEMPLATE = {
  description: "Looks up where the customer's order is",
  examples: ["where is my order?", "has my order shipped yet?"],
  url: "https://shop.example/api/orders/{{ order_id }}?email={{ identity.email or '' }}",
  headers: [{ name: "Authorization", value: "", secret: true }],
  inputs: [{ name: "order_id", kind: "order_id", fact: "order_number", question: "What is your order number?" }],
  reply: "Order {{ order_id }} is {{ response.status }}.",
  owner: "{{ response.customer.email }}",
};
const actionForm = $("#action-form");
function editAction(a) {
  actionForm.id.value = a ? a.id : "";
  actionForm.name.value = a ? a.name : "";
  actionForm.enabled.checked = a ? a.enabled : true;
  actionForm.definition.value = JSON.stringify(a ? a.definition : ACTION_TEMPLATE, null, 2);
  $("#action-status").textContent = a && a.secret_headers.length ? `Saved secrets: ${a.secret_headers.join(", ")} (leave a value empty to keep it)` : "";
}
$("#action-new").addEventListener("click", () => editAction(null));
async function loadActions() {
  let actions, calls;
  try {
    ({ actions } = await api("GET", "/api/v1/actions"));
    ({ calls } = await api("GET", "/api/v1/action-calls?limit=20"));
  } catch (err) { $("#action-status").textContent = err.message; return; }
  $("#actions").replaceChildren(...(actions.length ? actions.map((a) => el("tr", {},
    el("td", {}, a.name), el("td", {}, a.definition.description || ""), el("td", {}, a.definition.writes ? "yes" : ""),
    el("td", {}, a.enabled ? "yes" : "no"),
    el("td", {}, el("button", { type: "button", class: "link", onclick: () => editAction(a) }, "edit"), " ",
      el("button", { type: "button", class: "link", onclick: async () => {
        if (!confirm(`Delete the action ${a.name}?`)) return;
        try { await api("DELETE", `/api/v1/actions/${a.id}`); loadActions(); } catch (err) { $("#action-status").textContent = err.message; }
      } }, "delete"))))
    : [el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No actions yet: the bot answers from the knowledge only."))]));
  $("#action-calls").replaceChildren(...calls.map((c) => el("tr", {},
    el("td", {}, ago(c.created_at)), el("td", {}, c.action_name), el("td", {}, c.outcome), el("td", {}, c.http_status ?? ""),
    el("td", {}, `${c.latency_ms} ms`), el("td", {}, c.error || c.summary))));
  if (!actionForm.definition.value) editAction(null);
}
actionForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const status = $("#action-status");
  let definition;
  try { definition = JSON.parse(actionForm.definition.value); } catch (err) { status.textContent = `The definition is not JSON: ${err.message}`; return; }
  const body = { name: actionForm.name.value.trim(), enabled: actionForm.enabled.checked, definition };
  try {
    const id = actionForm.id.value;
    const saved = await api(id ? "PUT" : "POST", id ? `/api/v1/actions/${id}` : "/api/v1/actions", body);
    editAction(saved);
    status.textContent = `Saved ${saved.name}.`;
    loadActions();
  } catch (err) { status.textContent = err.message; }
});

async function loadSettings() {
  loadActions();
  loadRouting();
  let view;
  try { view = await api("GET", "/api/v1/settings"); } catch (err) { $("#settings-status").textContent = err.message; return; }
  state.settings = view;
  const s = view.settings || {}, d = view.defaults || {}, f = settingsForm;
  f.bot_name.value = s.bot_name ?? d.bot_name ?? "";
  f.business_name.value = s.business_name ?? d.business_name ?? "";
  f.persona.value = s.persona ?? "";
  f.support_threshold.value = s.support_threshold ?? d.support_threshold ?? 0.52;
  $("#strictness-value").textContent = Number(f.support_threshold.value).toFixed(2);
  f.escalate_when_unsure.checked = s.escalate_when_unsure ?? d.escalate_when_unsure ?? true;
  f.max_unhelpful_replies.value = s.max_unhelpful_replies ?? d.max_unhelpful_replies ?? 2;
  f.max_unhelpful_replies.disabled = f.escalate_when_unsure.checked;
  $("#persona-note").hidden = !!(s.model?.name || d.model);
  f.holding_replies.checked = s.holding_replies ?? d.holding_replies ?? true;
  f.handoff_topics.value = topicsText(s.handoff_topics ?? d.handoff_topics);
  const h = s.business_hours;
  f.hours_on.checked = !!h;
  $("#hours").disabled = !h;
  f.timezone.value = h?.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? "UTC";
  f.open.value = h?.open ?? "09:00";
  f.close.value = h?.close ?? "18:00";
  f.away_message.value = h?.away_message ?? "";
  for (const box of document.querySelectorAll("#days input")) box.checked = h ? h.days.includes(box.value) : DAYS.indexOf(box.value) < 5;
  $("#model-settings").hidden = !view.owns_channels || !d.model;
  f.model_name.value = s.model?.name ?? d.model ?? "";
  f.temperature.value = s.model?.temperature ?? d.temperature ?? "";
  f.max_tokens.value = s.model?.max_tokens ?? d.max_tokens ?? "";
  renderCredentials(view);
  loadTeam();
  loadTokens();
}

settingsForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = settingsForm, d = state.settings?.defaults || {};
  const num = (v) => (v === "" || v === null ? null : Number(v));
  const settings = {
    bot_name: f.bot_name.value.trim() || null,
    business_name: f.business_name.value.trim() || null,
    persona: f.persona.value.trim() || null,
    support_threshold: Number(f.support_threshold.value),
    escalate_when_unsure: f.escalate_when_unsure.checked,
    max_unhelpful_replies: num(f.max_unhelpful_replies.value),
    handoff_topics: topicsOf(f.handoff_topics.value),
    holding_replies: f.holding_replies.checked,
  };
  if (f.hours_on.checked) {
    settings.business_hours = { timezone: f.timezone.value.trim(), open: f.open.value, close: f.close.value,
      days: [...document.querySelectorAll("#days input:checked")].map((b) => b.value), away_message: f.away_message.value.trim() };
  }
  if (!$("#model-settings").hidden) {
    const name = f.model_name.value.trim();
    settings.model = { name: name && name !== d.model ? name : null, temperature: num(f.temperature.value), max_tokens: num(f.max_tokens.value) };
  }
  const status = $("#settings-status");
  try {
    state.settings = await api("PUT", "/api/v1/settings", { settings });
    status.textContent = "Saved: the next reply follows these settings.";
  } catch (err) { status.textContent = err.message; }
});

function renderCredentials(view) {
  const entries = Object.entries(view.credentials || {});
  $("#credentials-form").hidden = !view.owns_channels;
  $("#credentials").replaceChildren(...entries.map(([name, c]) => {
    const where = c.source === "settings" ? "set here" : c.source === "configuration" ? "set in the server's configuration" : "not set";
    const input = el("input", { name, autocomplete: "off", type: c.secret ? "password" : "text",
      placeholder: c.secret ? (c.set ? "•••••••• (unchanged)" : "not set") : "" });
    if (!c.secret) input.value = c.value ?? "";
    const clear = c.source === "settings" ? el("button", { type: "button", class: "link", onclick: () => saveCredentials({ [name]: null }) }, "remove") : null;
    return el("label", {}, CREDENTIAL_LABELS[name] || name, " ", el("span", { class: "secret-state" }, `— ${where} `, clear), input);
  }));
}

async function saveCredentials(credentials) {
  const status = $("#credentials-status");
  try {
    state.settings = await api("PUT", "/api/v1/settings", { credentials });
    renderCredentials(state.settings);
    status.textContent = "Saved: channels use these now.";
  } catch (err) { status.textContent = err.message; }
}

$("#credentials-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const credentials = {};
  for (const input of document.querySelectorAll("#credentials input")) {
    const c = state.settings.credentials[input.name];
    const value = input.value.trim();
    if (c.secret ? value : value !== (c.value ?? "")) credentials[input.name] = value || null;
  }
  saveCredentials(credentials);
});

async function loadTeam() {
  let users;
  try { users = (await api("GET", "/api/v1/users")).users; } catch { return; }
  const act = (label, fn) => el("button", { class: "link", onclick: async () => {
    try { await fn(); loadTeam(); } catch (err) { $("#user-status").textContent = err.message; } } }, label);
  $("#users").replaceChildren(...users.map((u) => el("tr", {},
    el("td", {}, u.name || "–"), el("td", {}, u.email), el("td", {}, u.role),
    el("td", {}, u.disabled_at ? "disabled" : "active"),
    el("td", {}, u.id === state.me.user_id ? el("span", { class: "muted" }, "you") : [
      act(u.role === "admin" ? "Make agent" : "Make admin", () => api("PATCH", `/api/v1/users/${u.id}`, { role: u.role === "admin" ? "agent" : "admin" })), " ",
      act(u.disabled_at ? "Enable" : "Disable", () => api("PATCH", `/api/v1/users/${u.id}`, { disabled: !u.disabled_at }))]))));
}

$("#user-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  try {
    await api("POST", "/api/v1/users", { email: f.get("email"), name: f.get("name"), role: f.get("role"), password: f.get("password") });
    $("#user-status").textContent = `${f.get("email")} can sign in now.`;
    e.target.reset();
    loadTeam();
  } catch (err) { $("#user-status").textContent = err.message; }
});

async function loadTokens() {
  let tokens;
  try { tokens = (await api("GET", "/api/v1/tokens")).tokens; } catch { return; }
  $("#tokens").replaceChildren(...tokens.filter((t) => !t.revoked_at).map((t) => el("tr", {},
    el("td", {}, t.name), el("td", {}, el("code", {}, `${t.prefix}…`)), el("td", {}, ago(t.created_at)),
    el("td", {}, t.last_used_at ? ago(t.last_used_at) : "never"),
    el("td", {}, el("button", { class: "link", onclick: async () => {
      if (!confirm(`Revoke "${t.name}"? Integrations using it stop working at once.`)) return;
      await api("DELETE", `/api/v1/tokens/${t.id}`).catch((err) => alert(err.message)); loadTokens(); } }, "Revoke")))));
}

$("#token-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  try {
    const t = await api("POST", "/api/v1/tokens", { name: f.get("name") });
    $("#token-status").replaceChildren("Copy it now; it is not shown again: ", el("div", { class: "token" }, t.token));
    e.target.reset();
    loadTokens();
  } catch (err) { $("#token-status").textContent = err.message; }
});

start();
