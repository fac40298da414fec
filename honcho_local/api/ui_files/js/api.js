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

const asking = new Map();  // storage key -> the open prompt: concurrent 401s share one dialog

function promptOnce(storageKey, label) {
  if (!asking.has(storageKey)) {
    asking.set(storageKey, askSecret(label).then((secret) => {
      asking.delete(storageKey);
      if (secret !== null) sessionStorage.setItem(storageKey, secret);
      return secret;
    }));
  }
  return asking.get(storageKey);
}

// `ask`: "always" prompts on a 401 (then retries once); "unset" only while no secret is kept (a route a
// workspace-scoped key may not use, e.g. GET /status with auth on: no prompt every poll); "never".
async function withSecret(storageKey, label, method, path, body, ask = "always") {
  const kept = sessionStorage.getItem(storageKey);
  const response = await send(method, path, body, kept);
  if (response.status !== 401 || ask === "never" || (ask === "unset" && kept)) return answer(response);
  const secret = await promptOnce(storageKey, label);
  return answer(secret === null ? response : await send(method, path, body, secret));
}

/** A v3 (or other non-admin) route. */
export function api(method, path, body, ask = "always") {
  return withSecret(KEY, "This server asks for an API key (a JWT, or the token of <home>/server.json). Paste it " +
                    "here; it is kept in this tab only.", method, path, body, ask);
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
