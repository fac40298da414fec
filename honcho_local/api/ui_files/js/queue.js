// The worker's queue, live: GET /status (a honcho-local extension) every two seconds, with the units
// running now and the step each is at. With auth on, /status needs an admin key: with a workspace's key
// the page shows that workspace's queue (GET …/queue/status) instead. Polls never prompt for a key.
import {api, v3} from "./api.js";
import {el, fill} from "./dom.js";

const EVERY_MS = 2000;

function runningUnit(unit) {
  const what = [unit.kind, unit.workspace_id, unit.session_id, unit.observed_id].filter(Boolean).join(" · ");
  return el("li", {class: "unit"}, el("b", {}, what), ` — ${unit.step} (${(unit.elapsed_s ?? 0).toFixed(1)} s)`);
}

function render(box, q, scope) {
  fill(box, el("span", {class: "counts"},
    `${scope}: ${q.pending_work_units} pending · ${q.in_progress_work_units} running · ${q.failed_work_units} failed`),
  (q.running || []).length ? el("ul", {class: "running"}, q.running.map(runningUnit)) : el("span", {class: "idle"}, " · idle"));
  box.classList.toggle("busy", (q.running || []).length > 0 || q.pending_work_units > 0);
}

async function poll(box, workspace) {
  try {
    const status = await api("GET", "/status?minutes=15", undefined, "never");
    render(box, status.queue, `queue (${status.version})`);
  } catch (error) {
    if (error.status !== 401 || !workspace) throw error;
    render(box, await api("GET", v3(workspace, "queue", "status"), undefined, "never"), `queue of ${workspace}`);
  }
}

/** Poll forever (a failed poll shows its error and tries again next time); `workspace()`: the open one. */
export function watchQueue(box, workspace) {
  const tick = async () => {
    try {
      await poll(box, workspace());
    } catch (error) {
      fill(box, el("span", {class: "error"}, `queue: ${error.message}`));
    }
    setTimeout(tick, document.hidden ? EVERY_MS * 5 : EVERY_MS);
  };
  tick();
}
