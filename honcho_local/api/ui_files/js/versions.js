// Representation versions: list, activate, roll back (the /admin routes; they need the admin token from
// <home>/server.json, which the page asks for once and keeps in this tab's sessionStorage).
import {admin} from "./api.js";
import {confirmButton, el, fill, notice, when} from "./dom.js";

function versionItem(box, version) {
  return el("li", {class: version.default ? "version default" : "version", dataset: {name: version.name}},
    el("b", {}, version.name), ` ${version.status} · ${version.conclusions} conclusions · ${version.reasoning_model}`,
    el("span", {class: "date"}, when(version.created_at)),
    version.default ? el("span", {class: "badge"}, "default")
      : confirmButton("Activate", async () => {
        const done = await admin("POST", `/admin/versions/${encodeURIComponent(version.name)}/activate`, {});
        notice(`Default version: ${done.default}`);
        await showVersions(box);
      }));
}

/** List the versions into `box`. */
export async function showVersions(box) {
  try {
    const versions = await admin("GET", "/admin/versions");
    fill(box, el("ul", {class: "versions"}, versions.map((v) => versionItem(box, v))),
      confirmButton("Roll back", async () => {
        const done = await admin("POST", "/admin/versions/rollback", {});
        notice(`Default version: ${done.default}`);
        await showVersions(box);
      }));
  } catch (error) {
    fill(box, el("p", {class: "error"}, error.message),
      el("button", {type: "button", onclick: () => showVersions(box)}, "Try again"));
  }
}
