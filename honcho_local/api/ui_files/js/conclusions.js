// A list of conclusions, each with its level, version, date and provenance: the messages it was drawn
// from and the conclusions it rests on (GET …/conclusions/{id}/sources, a honcho-local extension).
import {api, v3} from "./api.js";
import {confirmButton, el, fill, link, notice, when} from "./dom.js";

function sourceItem(workspace, message) {
  return el("li", {class: "source", dataset: {id: message.id}},
    el("span", {class: "who"}, message.peer_id), " in ",
    link([workspace, "session", message.session_id], message.session_id),
    el("span", {class: "date"}, when(message.created_at)),
    el("q", {}, message.content));
}

function provenance(workspace, found) {
  const box = el("div", {class: "provenance"});
  if (found.messages.length || found.missing_source_ids.length) {
    box.append(el("h4", {}, `From ${found.messages.length} message(s)`),
      el("ol", {class: "sources"}, found.messages.map((m) => sourceItem(workspace, m))));
  }
  if (found.premises.length) {
    box.append(el("h4", {}, `Rests on ${found.premises.length} conclusion(s)`),
      el("ol", {class: "premises"}, found.premises.map((p) => el("li", {class: "premise"}, el("q", {}, p.content)))));
  }
  const gone = [...found.missing_source_ids, ...found.missing_premise_ids];
  if (gone.length) box.append(el("p", {class: "muted"}, `${gone.length} source(s) no longer stored`));
  if (!box.childNodes.length) box.append(el("p", {class: "muted"}, "No source messages (written through the API)"));
  return box;
}

function conclusionItem(workspace, c, onDeleted) {
  const meta = el("span", {class: "meta"}, `${when(c.created_at)} · ${c.observer_id} → ${c.observed_id}`,
    c.session_id ? ` · session ${c.session_id}` : "", c.times_derived > 1 ? ` · derived ${c.times_derived}×` : "");
  const version = el("span", {class: "version"});
  const sources = el("div", {class: "provenance pending"}, "loading sources…");
  const item = el("li", {class: "conclusion", dataset: {id: c.id}},
    el("div", {class: "head"}, el("span", {class: `level level-${c.level}`}, c.level), version, meta,
      confirmButton("Delete", async () => {
        await api("DELETE", v3(workspace, "conclusions", c.id));
        item.remove();
        notice("Conclusion deleted");
        onDeleted?.();
      })),
    el("p", {class: "content"}, c.content), sources);
  api("GET", v3(workspace, "conclusions", c.id, "sources")).then((found) => {
    version.textContent = found.conclusion.version;
    sources.replaceWith(provenance(workspace, found));
  }).catch((error) => fill(sources, el("span", {class: "error"}, error.message)));
  return item;
}

/** Render conclusions into `list` (an <ol>), replacing what it held unless `append`; `onDeleted` runs
after each deletion. */
export function renderConclusions(list, workspace, conclusions, onDeleted, append = false) {
  const items = conclusions.map((c) => conclusionItem(workspace, c, onDeleted));
  if (append) list.append(...items);
  else fill(list, items.length ? items : el("li", {class: "muted empty"}, "No conclusions."));
  return list;
}
