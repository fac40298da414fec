// The inspector's shell: hash routes (#/<workspace>/peer/<id>, …/session/<id>, …/search/<text>), the
// sidebar lists, the search box, the live queue and the versions panel.
import {api, forgetSecrets, v3} from "./api.js";
import {el, fill, link, notice} from "./dom.js";
import {showPeer} from "./peer.js";
import {showSession} from "./session.js";
import {showSearch} from "./search.js";
import {watchQueue} from "./queue.js";
import {showVersions} from "./versions.js";

const $ = (id) => document.getElementById(id);
const state = {workspace: null, peers: []};

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  return {workspace: parts[0] || null, kind: parts[1] || null, id: parts.slice(2).join("/") || null};
}

function pickList(list, workspace, kind, items, current) {
  fill(list, items.length ? items.map((id) => el("li", {class: id === current ? "active" : null},
    kind ? link([workspace, kind, id], id) : link([id], id))) : el("li", {class: "muted"}, "none"));
}

async function loadSidebar(r) {
  const [workspaces, peers, sessions] = await Promise.all([
    // with auth on, listing workspaces needs an admin key: a workspace's key still opens #/<workspace>
    api("POST", "/v3/workspaces/list?size=100", {}, "unset").catch((error) => {
      if (error.status === 401 && r.workspace) return {items: [{id: r.workspace}]};
      throw error;
    }),
    r.workspace ? api("POST", v3(r.workspace, "peers", "list") + "?size=100", {}) : null,
    r.workspace ? api("POST", v3(r.workspace, "sessions", "list") + "?size=100&reverse=true", {}) : null,
  ]);
  state.peers = peers ? peers.items.map((p) => p.id) : [];
  pickList($("workspaces"), null, null, workspaces.items.map((w) => w.id), r.workspace);
  pickList($("peers"), r.workspace, "peer", state.peers, r.kind === "peer" ? r.id : null);
  pickList($("sessions"), r.workspace, "session", sessions ? sessions.items.map((s) => s.id) : [],
    r.kind === "session" ? r.id : null);
}

async function showWorkspace(main, workspace) {
  const queue = await api("GET", v3(workspace, "queue", "status"));
  const rows = Object.values(queue.sessions || {}).map((s) => el("tr", {},
    el("td", {}, link([workspace, "session", s.session_id], s.session_id)), el("td", {}, s.pending_work_units),
    el("td", {}, s.in_progress_work_units), el("td", {}, s.completed_work_units), el("td", {}, s.failed_work_units)));
  fill(main, el("h2", {}, "Workspace ", el("span", {class: "name"}, workspace)),
    el("p", {}, `${state.peers.length} peers. Pick a peer for its memory, a session for its messages.`),
    el("section", {}, el("h3", {}, "Queue"), el("table", {class: "queue"},
      el("tr", {}, ["session", "pending", "running", "done", "failed"].map((h) => el("th", {}, h))), rows)));
}

async function render() {
  const r = route();
  const main = $("main");
  state.workspace = r.workspace;
  $("search-input").disabled = $("search").querySelector("button").disabled = !r.workspace;
  if (r.kind === "search") $("search-input").value = r.id;
  try {
    await loadSidebar(r);
    if (!r.workspace) fill(main, el("p", {class: "hint"}, "Pick a workspace."));
    else if (r.kind === "peer") await showPeer(main, r.workspace, r.id);
    else if (r.kind === "session") await showSession(main, r.workspace, r.id);
    else if (r.kind === "search") await showSearch(main, r.workspace, state.peers, r.id);
    else await showWorkspace(main, r.workspace);
  } catch (error) {
    fill(main, el("p", {class: "error"}, error.message));
  }
}

$("search").addEventListener("submit", (event) => {
  event.preventDefault();
  const query = $("search-input").value.trim();
  if (query && state.workspace) location.hash = "#/" + [state.workspace, "search", query].map(encodeURIComponent).join("/");
});
$("versions-load").addEventListener("click", () => showVersions($("versions")).catch((e) => notice(e.message, true)));
$("forget-keys").addEventListener("click", () => { forgetSecrets(); notice("Keys forgotten (this tab)"); });
window.addEventListener("hashchange", render);
watchQueue($("queue"), () => state.workspace);
render();
