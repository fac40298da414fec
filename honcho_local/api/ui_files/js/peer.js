// A peer: its card (editable), its representation (profile and observations), its sessions and every
// conclusion about it, with provenance.
import {api, v3} from "./api.js";
import {el, fill, link, notice} from "./dom.js";
import {renderConclusions} from "./conclusions.js";

function cardEditor(workspace, peer, card) {
  const text = el("textarea", {id: "card-text", rows: 4, "aria-label": "Peer card, one fact a line"});
  text.value = (card || []).join("\n");
  const save = el("button", {type: "submit"}, "Save card");
  return el("form", {class: "card", onsubmit: async (event) => {
    event.preventDefault();
    const entries = text.value.split("\n").map((line) => line.trim()).filter(Boolean);
    save.disabled = true;
    try {
      await api("PUT", v3(workspace, "peers", peer, "card"), {peer_card: entries});
      notice("Peer card saved");
    } catch (error) { notice(error.message, true); } finally { save.disabled = false; }
  }}, text, save);
}

async function loadConclusions(workspace, peer, list, count) {
  const page = await api("POST", v3(workspace, "conclusions", "list") + "?size=100",
                         {filters: {observed_id: peer}});
  count.textContent = `(${page.total})`;
  const recount = () => { count.textContent = `(${list.querySelectorAll("li.conclusion").length})`; };
  renderConclusions(list, workspace, page.items, recount);
}

/** Fill `main` with the peer's view. */
export async function showPeer(main, workspace, peer) {
  const count = el("span", {class: "count"});
  const conclusions = el("ol", {id: "conclusions", class: "conclusions"});
  const cardBox = el("div", {}, "loading…");
  const profile = el("pre", {class: "representation"}, "loading…");
  const sessions = el("ul", {class: "inline"});
  fill(main, el("h2", {}, "Peer ", el("span", {class: "name"}, peer)),
    el("section", {}, el("h3", {}, "Peer card"), cardBox),
    el("section", {}, el("h3", {}, "Sessions"), sessions),
    el("section", {}, el("h3", {}, "Conclusions ", count), conclusions),
    el("section", {}, el("h3", {}, "Representation"), profile));
  const [card, rep, peerSessions] = await Promise.allSettled([
    api("GET", v3(workspace, "peers", peer, "card")),
    api("POST", v3(workspace, "peers", peer, "representation"), {}),
    api("POST", v3(workspace, "peers", peer, "sessions") + "?size=100", {}),
    loadConclusions(workspace, peer, conclusions, count).catch((e) => notice(e.message, true)),
  ]);
  fill(cardBox, card.status === "fulfilled" ? cardEditor(workspace, peer, card.value.peer_card) : card.reason.message);
  profile.textContent = rep.status === "fulfilled" ? rep.value.representation || "(empty)" : rep.reason.message;
  if (peerSessions.status === "fulfilled") {
    fill(sessions, peerSessions.value.items.map((s) => el("li", {}, link([workspace, "session", s.id], s.id))));
  }
}
