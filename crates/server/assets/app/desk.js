// The agents' workspace around the inbox: the `/` canned-reply picker in the reply box,
// follow-up tasks (on a conversation and on the Tasks page), canned replies' own page, the
// presence selector with its heartbeat, the notification bell fed by the live stream, and
// the Settings cards for teams and SLA policies.

import { $, state, el, api, ago } from "/app/common.js";

const BEAT_MS = 30000;
const desk = { beat: null, active: true, unread: 0 };

// Presence and the bell -----------------------------------------------------------------------

export function startDesk(events) {
  stopDesk();
  desk.active = true;
  const beat = (status) => api("POST", "/api/v1/presence", { status, active: desk.active })
    .then((p) => { $("#presence").value = p.chosen; desk.active = false; })
    .catch(() => {});
  beat(undefined);
  desk.beat = setInterval(() => beat(undefined), BEAT_MS);
  loadBell();
  refreshDueCount();
  events?.addEventListener("notification", (e) => {
    let n;
    try { n = JSON.parse(e.data); } catch { return; }
    desk.unread += 1;
    showUnread();
    if (!$("#bell-panel").hidden) loadBell();
    if (n.kind === "task_due" || n.kind === "task_assigned") {
      refreshDueCount();
      if (!$("#page-tasks").hidden) loadTasks();
    }
    if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
      const shown = new Notification(n.title, { body: n.body, tag: `rapport-${n.id}` });
      shown.onclick = () => { window.focus(); openNotification(n); };
    }
  });
}

export function stopDesk() {
  clearInterval(desk.beat);
  desk.beat = null;
}

// Anything the agent does counts as activity for the next heartbeat.
for (const kind of ["keydown", "pointerdown", "scroll"]) {
  document.addEventListener(kind, () => { desk.active = true; }, { passive: true, capture: true });
}

$("#presence").addEventListener("change", (e) => {
  api("POST", "/api/v1/presence", { status: e.target.value, active: true }).catch((err) => alert(err.message));
});

function showUnread() {
  const count = $("#bell-count");
  count.textContent = desk.unread > 99 ? "99+" : String(desk.unread);
  count.hidden = desk.unread === 0;
}

async function loadBell() {
  let inbox;
  try { inbox = await api("GET", "/api/v1/notifications"); } catch { return; }
  desk.unread = inbox.unread;
  showUnread();
  $("#notifications").replaceChildren(...(inbox.notifications.length ? inbox.notifications.map((n) =>
    el("li", { class: n.read_at ? "" : "unread", onclick: () => openNotification(n) },
      el("div", { class: "who" }, n.title), n.body ? el("div", { class: "reason" }, n.body) : null,
      el("div", { class: "reason" }, ago(n.created_at)))) : [el("li", { class: "muted" }, "Nothing new.")]));
}

$("#bell").addEventListener("click", async () => {
  const panel = $("#bell-panel");
  panel.hidden = !panel.hidden;
  if (!panel.hidden) {
    loadBell();
    // Asked when the agent reaches for notifications, not on page load.
    if ("Notification" in window && Notification.permission === "default") Notification.requestPermission().catch(() => {});
  }
});

$("#bell-read").addEventListener("click", async () => {
  try { desk.unread = (await api("POST", "/api/v1/notifications/read", { ids: [] })).unread; } catch { return; }
  showUnread();
  loadBell();
});

async function openNotification(n) {
  $("#bell-panel").hidden = true;
  if (!n.read_at) {
    try { desk.unread = (await api("POST", "/api/v1/notifications/read", { ids: [n.id] })).unread; showUnread(); } catch { /* shown again next time */ }
  }
  if (n.conversation_id) openConversation(n.conversation_id);
  else if (n.task_id) { history.pushState(null, "", "/app/tasks"); window.dispatchEvent(new PopStateEvent("popstate")); }
}

// Opens a conversation in the inbox through its open escalation, or its latest one.
export async function openConversation(conversationId) {
  let id = null;
  try {
    const conv = await api("GET", `/api/v1/conversations/${conversationId}`);
    id = conv.open_escalation?.id ?? null;
    if (id === null) {
      const all = (await api("GET", "/api/v1/escalations")).escalations;
      id = all.find((e) => e.conversation_id === conversationId)?.id ?? null;
    }
  } catch (err) { alert(err.message); return; }
  if (id === null) { alert("This conversation was never handed to the team, so it is not in the inbox."); return; }
  document.dispatchEvent(new CustomEvent("rapport:open-escalation", { detail: { id } }));
}

// Canned replies in the reply box ---------------------------------------------------------------

// The `/word` being typed at the cursor, if any: where it starts and what follows the slash.
function slashAt(textarea) {
  const upto = textarea.value.slice(0, textarea.selectionStart);
  const m = upto.match(/(^|\s)\/([\w-]*)$/);
  return m ? { start: upto.length - m[2].length - 1, query: m[2] } : null;
}

// A list under the reply box: typing `/ref` shows the matching replies; Enter, Tab or a click
// puts the chosen one, filled in for this conversation, in place of `/ref`.
export function cannedPicker(textarea, conversationId) {
  const list = el("ul", { class: "canned", role: "listbox", hidden: "" });
  let items = [];
  let chosen = 0;
  let timer = null;
  const close = () => { list.hidden = true; items = []; };
  const show = () => {
    list.replaceChildren(...items.map((r, i) => el("li", { class: i === chosen ? "on" : "", role: "option", "data-shortcut": r.shortcut,
      onmousedown: (e) => { e.preventDefault(); insert(r); } },
      el("b", {}, `/${r.shortcut}`), " ", r.title, el("div", { class: "reason" }, r.body.slice(0, 120)))));
    if (!items.length) list.append(el("li", { class: "muted" }, "No canned reply matches. Add one on the Replies page."));
    list.hidden = false;
  };
  const insert = async (r) => {
    const at = slashAt(textarea);
    close();
    let text;
    try { text = (await api("POST", `/api/v1/canned-replies/${r.id}/render`, { conversation_id: conversationId })).text; } catch (err) { alert(err.message); return; }
    const start = at ? at.start : textarea.selectionStart;
    const end = textarea.selectionStart;
    textarea.value = textarea.value.slice(0, start) + text + textarea.value.slice(end);
    const cursor = start + text.length;
    textarea.setSelectionRange(cursor, cursor);
    textarea.focus();
    textarea.dispatchEvent(new Event("input"));
  };
  textarea.addEventListener("input", () => {
    const at = slashAt(textarea);
    if (!at) { close(); return; }
    clearTimeout(timer);
    timer = setTimeout(async () => {
      try { items = (await api("GET", `/api/v1/canned-replies?q=${encodeURIComponent(at.query)}`)).canned_replies.slice(0, 8); } catch { return; }
      chosen = 0;
      show();
    }, 120);
  });
  textarea.addEventListener("keydown", (e) => {
    if (list.hidden || !items.length) { if (e.key === "Escape") close(); return; }
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      chosen = (chosen + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      show();
    } else if (e.key === "Enter" || e.key === "Tab") {
      e.preventDefault();
      insert(items[chosen]);
    } else if (e.key === "Escape") close();
  });
  textarea.addEventListener("blur", () => setTimeout(close, 150));
  return list;
}

// Follow-up tasks -------------------------------------------------------------------------------

function dueText(t) {
  if (!t.due_at) return "no due time";
  const due = new Date(t.due_at);
  const when = due.toLocaleString([], { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  return !t.done_at && due < new Date() ? `overdue · ${when}` : `due ${when}`;
}

function memberName(id) {
  if (id === state.me?.user_id) return "you";
  return state.team?.find((m) => m.id === id)?.name || `user ${id}`;
}

function taskItem(t, reload, { withCustomer }) {
  const overdue = !t.done_at && t.due_at && new Date(t.due_at) < new Date();
  const outcome = el("input", { placeholder: "What came of it (optional)", "aria-label": "Outcome" });
  const act = (label, fn) => el("button", { class: "link", onclick: async (e) => {
    e.target.disabled = true;
    try { await fn(); await reload(); } catch (err) { alert(err.message); e.target.disabled = false; }
  } }, label);
  return el("li", { class: `task${t.done_at ? " done" : ""}${overdue ? " overdue" : ""}`, "data-id": t.id },
    el("div", { class: "who" }, t.title),
    el("div", { class: "reason due" }, `${dueText(t)} · ${t.assignee_id ? memberName(t.assignee_id) : "nobody"}`,
      withCustomer && t.contact_name ? ` · ${t.contact_name}` : "", t.source === "rule" ? " · by a rule" : ""),
    t.note ? el("div", {}, t.note) : null,
    t.done_at ? el("div", { class: "reason" }, `done ${ago(t.done_at)} ago${t.outcome ? ` — ${t.outcome}` : ""}`) : null,
    el("div", { class: "fact" },
      t.done_at ? act("Reopen", () => api("POST", `/api/v1/tasks/${t.id}/reopen`))
        : [outcome, act("Done", () => api("POST", `/api/v1/tasks/${t.id}/done`, { outcome: outcome.value || null }))],
      withCustomer && t.conversation_id ? el("button", { class: "link", onclick: () => openConversation(t.conversation_id) }, "Open conversation") : null,
      act("Delete", () => confirm(`Delete the task "${t.title}"?`) ? api("DELETE", `/api/v1/tasks/${t.id}`) : null)));
}

// `datetime-local` speaks the browser's time; the API speaks UTC.
function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

// The conversation's "Follow up" card: the customer's tasks and a form for a new one.
export function followUps({ conversationId, tasks, reload }) {
  const title = el("input", { name: "title", placeholder: "Call back about the refund", required: "", maxlength: "200", "aria-label": "Task" });
  const tomorrow = new Date(Date.now() + 24 * 3600 * 1000);
  tomorrow.setHours(10, 0, 0, 0);
  const due = el("input", { name: "due_at", type: "datetime-local", value: localInputValue(tomorrow), "aria-label": "Due" });
  const assignee = el("select", { name: "assignee_id", "aria-label": "For" },
    (state.team || []).map((m) => el("option", { value: String(m.id), ...(m.id === state.me.user_id ? { selected: "" } : {}) },
      `${m.name || m.email}${m.id === state.me.user_id ? " (you)" : ""}`)));
  const status = el("span", { class: "muted" });
  const form = el("form", { class: "task-form", onsubmit: async (e) => {
    e.preventDefault();
    try {
      await api("POST", "/api/v1/tasks", {
        title: title.value, conversation_id: conversationId,
        assignee_id: assignee.value ? Number(assignee.value) : null,
        due_at: due.value ? new Date(due.value).toISOString() : null,
      });
      await reload();
      refreshDueCount();
    } catch (err) { status.textContent = err.message; }
  } }, title, due, assignee, el("button", { type: "submit" }, "Add task"), status);
  const open = tasks.filter((t) => !t.done_at);
  return el("div", { class: "card follow-ups" },
    el("h2", {}, "Follow up"),
    el("ul", { class: "tasks" }, [...open, ...tasks.filter((t) => t.done_at).slice(0, 3)].map((t) => taskItem(t, reload, { withCustomer: false }))),
    open.length ? null : el("p", { class: "muted" }, "No open task on this customer."),
    form);
}

async function refreshDueCount() {
  let mine;
  try { mine = (await api("GET", "/api/v1/tasks?assignee=me&open=true")).tasks; } catch { return; }
  const due = mine.filter((t) => t.due_at && new Date(t.due_at) <= new Date()).length;
  $("#tasks-due").textContent = String(due);
  $("#tasks-due").hidden = due === 0;
}

const taskView = { assignee: "me" };
for (const b of document.querySelectorAll("#task-tabs button")) {
  b.addEventListener("click", () => {
    for (const o of document.querySelectorAll("#task-tabs button")) o.classList.toggle("on", o === b);
    taskView.assignee = b.dataset.assignee;
    loadTasks();
  });
}
$("#task-done").addEventListener("change", () => loadTasks());

export async function loadTasks() {
  if (!state.team) {
    try { state.team = (await api("GET", "/api/v1/team")).members; } catch { state.team = []; }
  }
  const open = $("#task-done").checked ? "" : "&open=true";
  let tasks;
  try { tasks = (await api("GET", `/api/v1/tasks?assignee=${taskView.assignee}${open}`)).tasks; } catch { return; }
  $("#tasks").replaceChildren(...tasks.map((t) => taskItem(t, loadTasks, { withCustomer: true })));
  $("#tasks-empty").hidden = tasks.length > 0;
  refreshDueCount();
  let team = [];
  try { team = (await api("GET", "/api/v1/presence")).presence; } catch { /* the list stays as it was */ }
  $("#team-presence").replaceChildren(...team.map((p) => el("li", { class: `presence ${p.status}` },
    el("span", { class: "dot" }), `${p.name || p.email}${p.user_id === state.me.user_id ? " (you)" : ""}`,
    el("span", { class: "reason" }, ` · ${p.status}${p.last_seen_at && p.status === "offline" ? `, seen ${ago(p.last_seen_at)} ago` : ""}`))));
}

// The Replies page ------------------------------------------------------------------------------

const replyForm = $("#reply-form");

function editReply(r) {
  replyForm.id.value = r ? r.id : "";
  replyForm.shortcut.value = r?.shortcut || "";
  replyForm.title.value = r?.title || "";
  replyForm.body.value = r?.body || "";
  replyForm.shared.checked = r ? r.owner_id === null : false;
  replyForm.shared.disabled = Boolean(r);
  $("#reply-form-title").textContent = r ? `Edit /${r.shortcut}` : "New canned reply";
  $("#reply-status").textContent = "";
}

$("#reply-new").addEventListener("click", () => editReply(null));
$("#replies-search").addEventListener("input", () => loadReplies());

export async function loadReplies() {
  $("#reply-shared-label").hidden = state.me?.role !== "admin";
  let replies;
  try { replies = (await api("GET", `/api/v1/canned-replies?q=${encodeURIComponent($("#replies-search").value)}`)).canned_replies; } catch { return; }
  const editable = (r) => r.owner_id === null ? state.me.role === "admin" : r.owner_id === state.me.user_id;
  $("#replies").replaceChildren(...replies.map((r) => el("tr", {},
    el("td", {}, el("code", {}, `/${r.shortcut}`)), el("td", {}, r.title), el("td", { class: "muted" }, r.body.slice(0, 140)),
    el("td", {}, r.owner_id === null ? "the team" : "you"), el("td", {}, String(r.uses)),
    el("td", {}, editable(r) ? [
      el("button", { class: "link", onclick: () => editReply(r) }, "Edit"), " ",
      el("button", { class: "link", onclick: async () => {
        if (!confirm(`Delete /${r.shortcut}?`)) return;
        await api("DELETE", `/api/v1/canned-replies/${r.id}`).catch((err) => alert(err.message));
        loadReplies();
      } }, "Delete")] : null))));
}

replyForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { shortcut: replyForm.shortcut.value.trim(), title: replyForm.title.value, body: replyForm.body.value, shared: replyForm.shared.checked };
  const id = replyForm.id.value;
  try {
    await api(id ? "PUT" : "POST", id ? `/api/v1/canned-replies/${id}` : "/api/v1/canned-replies", body);
    $("#reply-status").textContent = `Saved: type /${body.shortcut} in a reply to use it.`;
    if (!id) replyForm.reset();
    loadReplies();
  } catch (err) { $("#reply-status").textContent = err.message; }
});

// Settings: teams and SLA policies (admins) -----------------------------------------------------

const teamForm = $("#team-form");
const slaForm = $("#sla-form");

function editTeam(t) {
  teamForm.id.value = t ? t.id : "";
  teamForm.name.value = t?.name || "";
  teamForm.topics.value = (t?.topics || []).join(", ");
  teamForm.capacity.value = t?.capacity ?? 5;
  teamForm.follow_up_minutes.value = t?.follow_up_minutes ?? "";
  $("#team-members").replaceChildren(...(state.users || []).filter((u) => !u.disabled_at).map((u) =>
    el("label", {}, el("input", { type: "checkbox", value: String(u.id), ...((t?.members || []).includes(u.id) ? { checked: "" } : {}) }), u.name || u.email)));
  $("#team-status").textContent = "";
}

function editSla(p) {
  slaForm.id.value = p ? p.id : "";
  slaForm.name.value = p?.name || "";
  slaForm.channel.value = p?.channel || "";
  slaForm.priority.value = p?.priority || "";
  slaForm.business_hours.checked = p ? p.business_hours : true;
  slaForm.first_response_minutes.value = p?.first_response_minutes ?? 60;
  slaForm.resolution_minutes.value = p?.resolution_minutes ?? 480;
  $("#sla-status").textContent = "";
}

function minutes(m) { return m % 60 ? `${m} min` : m % 1440 ? `${m / 60} h` : `${m / 1440} d`; }

export async function loadRouting() {
  try { state.users = (await api("GET", "/api/v1/users")).users; } catch { state.users = []; }
  let teams = [], policies = [];
  try {
    [teams, policies] = await Promise.all([api("GET", "/api/v1/teams").then((r) => r.teams), api("GET", "/api/v1/sla-policies").then((r) => r.sla_policies)]);
  } catch { return; }
  const name = (id) => state.users.find((u) => u.id === id)?.name || `user ${id}`;
  const remove = (path, reload) => el("button", { class: "link", onclick: async () => {
    if (!confirm("Delete it?")) return;
    await api("DELETE", path).catch((err) => alert(err.message));
    reload();
  } }, "Delete");
  $("#teams").replaceChildren(...teams.map((t) => el("tr", {},
    el("td", {}, t.name), el("td", {}, t.topics.join(", ") || "–"), el("td", {}, t.members.map(name).join(", ") || "–"),
    el("td", {}, String(t.capacity)), el("td", {}, t.follow_up_minutes ? `task after ${minutes(t.follow_up_minutes)}` : "–"),
    el("td", {}, el("button", { class: "link", onclick: () => editTeam(t) }, "Edit"), " ", remove(`/api/v1/teams/${t.id}`, loadRouting)))));
  $("#sla-policies").replaceChildren(...policies.map((p) => el("tr", {},
    el("td", {}, p.name), el("td", {}, p.channel || "every"), el("td", {}, p.priority || "every"),
    el("td", {}, minutes(p.first_response_minutes)), el("td", {}, minutes(p.resolution_minutes)),
    el("td", {}, p.business_hours ? "business" : "round the clock"),
    el("td", {}, el("button", { class: "link", onclick: () => editSla(p) }, "Edit"), " ", remove(`/api/v1/sla-policies/${p.id}`, loadRouting)))));
  if (!teamForm.id.value) editTeam(null);
}

$("#team-new").addEventListener("click", () => editTeam(null));
$("#sla-new").addEventListener("click", () => editSla(null));

teamForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const id = teamForm.id.value;
  const body = {
    name: teamForm.name.value,
    topics: teamForm.topics.value.split(",").map((t) => t.trim()).filter(Boolean),
    capacity: Number(teamForm.capacity.value) || 5,
    follow_up_minutes: teamForm.follow_up_minutes.value ? Number(teamForm.follow_up_minutes.value) : null,
    members: [...document.querySelectorAll("#team-members input:checked")].map((i) => Number(i.value)),
  };
  try {
    await api(id ? "PUT" : "POST", id ? `/api/v1/teams/${id}` : "/api/v1/teams", body);
    $("#team-status").textContent = "Saved.";
    editTeam(null);
    loadRouting();
  } catch (err) { $("#team-status").textContent = err.message; }
});

slaForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const id = slaForm.id.value;
  const body = {
    name: slaForm.name.value, channel: slaForm.channel.value || null, priority: slaForm.priority.value || null,
    first_response_minutes: Number(slaForm.first_response_minutes.value), resolution_minutes: Number(slaForm.resolution_minutes.value),
    business_hours: slaForm.business_hours.checked,
  };
  try {
    await api(id ? "PUT" : "POST", id ? `/api/v1/sla-policies/${id}` : "/api/v1/sla-policies", body);
    $("#sla-status").textContent = "Saved.";
    editSla(null);
    loadRouting();
  } catch (err) { $("#sla-status").textContent = err.message; }
});
