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

const PAGE = 50;

/** The newest conclusions about the peer, a page at a time ("Show more" asks for the next page). */
async function loadConclusions(workspace, peer, list, count, more, page = 1) {
  const data = await api("POST", v3(workspace, "conclusions", "list") + `?page=${page}&size=${PAGE}`,
                         {filters: {observed_id: peer}});
  count.dataset.total = data.total;
  count.textContent = `(${data.total})`;
  const recount = () => { count.dataset.total -= 1; count.textContent = `(${count.dataset.total})`; };
  renderConclusions(list, workspace, data.items, recount, page > 1);
  fill(more, page < data.pages ? el("button", {type: "button", onclick: () =>
    loadConclusions(workspace, peer, list, count, more, page + 1).catch((e) => notice(e.message, true))},
  `Show more (${data.total - page * PAGE} older)`) : null);
}

/** Fill `main` with the peer's view. */
export async function showPeer(main, workspace, peer) {
  const count = el("span", {class: "count"});
  const conclusions = el("ol", {id: "conclusions", class: "conclusions"});
  const more = el("div", {class: "pager"});
  const cardBox = el("div", {}, "loading…");
  const profile = el("pre", {class: "representation"}, "loading…");
  const sessions = el("ul", {class: "inline"});
  fill(main, el("h2", {}, "Peer ", el("span", {class: "name"}, peer)),
    el("section", {}, el("h3", {}, "Peer card"), cardBox),
    el("section", {}, el("h3", {}, "Sessions"), sessions),
    el("section", {}, el("h3", {}, "Conclusions ", count), conclusions, more),
    el("section", {}, el("h3", {}, "Representation"), profile));
  const [card, rep, peerSessions] = await Promise.allSettled([
    api("GET", v3(workspace, "peers", peer, "card")),
    api("POST", v3(workspace, "peers", peer, "representation"), {}),
    api("POST", v3(workspace, "peers", peer, "sessions") + "?size=100", {}),
    loadConclusions(workspace, peer, conclusions, count, more).catch((e) => notice(e.message, true)),
  ]);
  fill(cardBox, card.status === "fulfilled" ? cardEditor(workspace, peer, card.value.peer_card) : card.reason.message);
  profile.textContent = rep.status === "fulfilled" ? rep.value.representation || "(empty)" : rep.reason.message;
  if (peerSessions.status === "fulfilled") {
    fill(sessions, peerSessions.value.items.map((s) => el("li", {}, link([workspace, "session", s.id], s.id))));
  }
}
