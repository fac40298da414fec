// The search box: messages across the workspace (POST …/search) and conclusions about each of its peers
// (POST …/conclusions/query, semantic; needs the embedding model).
import {api, v3} from "./api.js";
import {el, fill, link, when} from "./dom.js";
import {renderConclusions} from "./conclusions.js";

async function conclusionsAbout(workspace, peers, query) {
  const asked = peers.slice(0, 50).map((peer) => api("POST", v3(workspace, "conclusions", "query"),
    {query, top_k: 5, filters: {observer_id: peer, observed_id: peer}}));
  const answers = await Promise.allSettled(asked);
  const found = answers.filter((a) => a.status === "fulfilled").flatMap((a) => a.value);
  const failed = answers.find((a) => a.status === "rejected");
  if (!found.length && failed) throw failed.reason;
  return found.sort((a, b) => (a.distance ?? 0) - (b.distance ?? 0)).slice(0, 10);
}

function messageHit(workspace, m) {
  return el("li", {class: "event"}, el("div", {class: "head"},
    el("span", {class: "who"}, link([workspace, "peer", m.peer_id], m.peer_id)), " in ",
    link([workspace, "session", m.session_id], m.session_id), el("span", {class: "date"}, when(m.created_at))),
  el("p", {class: "content"}, m.content));
}

/** Fill `main` with the results for `query` in `workspace` (`peers`: its peer ids). */
export async function showSearch(main, workspace, peers, query) {
  const messages = el("ol", {id: "search-messages", class: "events"}, el("li", {class: "muted"}, "searching…"));
  const conclusions = el("ol", {id: "search-conclusions", class: "conclusions"}, el("li", {class: "muted"}, "searching…"));
  fill(main, el("h2", {}, "Search ", el("q", {}, query)),
    el("section", {}, el("h3", {}, "Messages"), messages),
    el("section", {}, el("h3", {}, "Conclusions"), conclusions));
  const [m, c] = await Promise.allSettled([api("POST", v3(workspace, "search"), {query, limit: 20}),
    conclusionsAbout(workspace, peers, query)]);
  fill(messages, m.status === "fulfilled" ? (m.value.length ? m.value.map((x) => messageHit(workspace, x))
    : el("li", {class: "muted"}, "No messages.")) : el("li", {class: "error"}, m.reason.message));
  if (c.status === "fulfilled") renderConclusions(conclusions, workspace, c.value);
  else fill(conclusions, el("li", {class: "error"}, c.reason.message));
}
