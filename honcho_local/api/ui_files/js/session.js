// A session: its summaries and its events (messages, tool calls, custom events), a page at a time;
// messages can be deleted (the server forgets what was derived from them).
import {api, v3} from "./api.js";
import {confirmButton, el, fill, link, notice, when} from "./dom.js";

const SIZE = 50;

function summaryBlock(title, summary) {
  if (!summary) return el("p", {class: "muted"}, `${title}: none yet`);
  return el("div", {class: "summary"}, el("h4", {}, title, el("span", {class: "date"}, when(summary.created_at))),
    el("p", {}, summary.content));
}

function eventItem(workspace, session, event, reload) {
  const item = el("li", {class: `event kind-${event.kind}`, dataset: {id: event.id}},
    el("div", {class: "head"}, el("span", {class: "seq"}, `#${event.seq}`),
      el("span", {class: "who"}, link([workspace, "peer", event.peer_id], event.peer_id)),
      event.kind !== "message" ? el("span", {class: "level"}, event.kind) : null,
      el("span", {class: "date"}, when(event.created_at)),
      event.kind === "message" ? confirmButton("Delete", async () => {
        await api("DELETE", v3(workspace, "sessions", session, "messages", event.id));
        item.remove();
        notice("Message deleted, and what was derived from it");
        await reload();
      }) : null),
    el("p", {class: "content"}, event.content));
  return item;
}

async function loadPage(workspace, session, list, pager, page) {
  const data = await api("POST", v3(workspace, "sessions", session, "events", "list") + `?page=${page}&size=${SIZE}`, {});
  const go = (to) => () => loadPage(workspace, session, list, pager, to).catch((e) => notice(e.message, true));
  fill(list, data.items.length ? data.items.map((e) => eventItem(workspace, session, e, go(page)))
    : el("li", {class: "muted empty"}, "No messages."));
  fill(pager, page > 1 ? el("button", {type: "button", onclick: go(page - 1)}, "← earlier") : null,
    ` page ${data.page} of ${Math.max(data.pages, 1)} (${data.total} events) `,
    page < data.pages ? el("button", {type: "button", onclick: go(page + 1)}, "later →") : null);
}

/** Fill `main` with the session's view. */
export async function showSession(main, workspace, session) {
  const summaries = el("div", {}, "loading…");
  const members = el("ul", {class: "inline"});
  const list = el("ol", {id: "messages", class: "events"});
  const pager = el("div", {class: "pager"});
  fill(main, el("h2", {}, "Session ", el("span", {class: "name"}, session)),
    el("section", {}, el("h3", {}, "Peers"), members),
    el("section", {}, el("h3", {}, "Summaries"), summaries),
    el("section", {}, el("h3", {}, "Messages and events"), pager, list));
  const [sums, peers] = await Promise.allSettled([
    api("GET", v3(workspace, "sessions", session, "summaries")),
    api("GET", v3(workspace, "sessions", session, "peers") + "?size=100"),
    loadPage(workspace, session, list, pager, 1).catch((e) => notice(e.message, true)),
  ]);
  fill(summaries, sums.status === "fulfilled"
    ? [summaryBlock("Short summary", sums.value.short_summary), summaryBlock("Long summary", sums.value.long_summary)]
    : sums.reason.message);
  if (peers.status === "fulfilled") {
    fill(members, peers.value.items.map((p) => el("li", {}, link([workspace, "peer", p.id], p.id))));
  }
}
