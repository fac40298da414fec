// Calls to this server's JSON API (same origin). Every request says `Content-Type: application/json`
// (the request guard refuses other bodies). Secrets live in sessionStorage, so they end with the tab:
// - the API key, asked for when a route answers 401 (a server with AUTH_USE_AUTH), sent as a Bearer token;
// - the admin token (<home>/server.json), asked for when an /admin route is first needed.

const KEY = "honcho-local.api-key";
const ADMIN = "honcho-local.admin-token";

export class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
  }
}

/** Ask for a secret in the page's dialog; resolves to the text, or null when cancelled. */
export function askSecret(label) {
  const dialog = document.getElementById("secret-dialog");
  const input = document.getElementById("secret-input");
  document.getElementById("secret-label").textContent = label;
  input.value = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok" && input.value.trim() ? input.value.trim() : null);
    }, {once: true});
    dialog.showModal();
    input.focus();
  });
}

async function send(method, path, body, token) {
  const headers = {"Content-Type": "application/json", "Accept": "application/json"};
  if (token) headers["Authorization"] = "Bearer " + token;
  const init = {method, headers, credentials: "same-origin"};
  if (body !== undefined) init.body = JSON.stringify(body);
  return fetch(path, init);
}

async function answer(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : JSON.stringify(data);
    throw new ApiError(response.status, detail);
  }
  return data;
}

async function withSecret(storageKey, label, method, path, body) {
  let response = await send(method, path, body, sessionStorage.getItem(storageKey));
  while (response.status === 401) {
    const secret = await askSecret(label);
    if (secret === null) break;
    sessionStorage.setItem(storageKey, secret);
    response = await send(method, path, body, secret);
  }
  return answer(response);
}

/** A v3 (or other non-admin) route. */
export function api(method, path, body) {
  return withSecret(KEY, "This server asks for an API key (a JWT). Paste it here; it is kept in this tab only.",
                    method, path, body);
}

/** An /admin route: the admin token from <home>/server.json. */
export function admin(method, path, body) {
  return withSecret(ADMIN, "Admin token: the \"token\" of <home>/server.json (new at each start of the server). " +
                    "Kept in this tab only.", method, path, body);
}

export function forgetSecrets() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(ADMIN);
}

/** "/v3/workspaces/<w>/…" with each part escaped. */
export function v3(...parts) {
  return "/v3/workspaces/" + parts.map(encodeURIComponent).join("/");
}
