// What every module of the app shares: its state, DOM helpers and the API client (which
// carries the session's CSRF token on changes). Text is always set with textContent.

export const state = { csrf: null, me: null, status: "open", selected: null, timer: null, drafts: {} };

export const $ = (sel) => document.querySelector(sel);
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    // The content policy refuses inline style attributes; CSSOM properties are allowed.
    else if (k === "style") Object.assign(node.style, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

let signedOut = () => {};
// What to do when the session is gone (the app shows its sign-in form).
export function onSignedOut(handler) { signedOut = handler; }

// A FormData body goes as multipart (the browser sets the content type with its boundary);
// anything else as JSON.
export async function api(method, path, body) {
  const headers = { accept: "application/json" };
  const multipart = body instanceof FormData;
  if (body !== undefined && !multipart) headers["content-type"] = "application/json";
  if (method !== "GET" && state.csrf) headers["x-csrf-token"] = state.csrf;
  const payload = body === undefined || multipart ? body : JSON.stringify(body);
  const resp = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  if (resp.status === 401) { signedOut(); throw new Error("signed out"); }
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw new Error(data?.error?.message || `HTTP ${resp.status}`);
  return data;
}

export function ago(iso) {
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}
