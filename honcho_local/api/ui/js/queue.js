// The worker's queue, live: GET /status (a honcho-local extension) every two seconds, with the units
// running now and the step each is at.
import {api} from "./api.js";
import {el, fill} from "./dom.js";

const EVERY_MS = 2000;

function runningUnit(unit) {
  const what = [unit.kind, unit.workspace_id, unit.session_id, unit.observed_id].filter(Boolean).join(" · ");
  return el("li", {class: "unit"}, el("b", {}, what), ` — ${unit.step} (${unit.elapsed_s.toFixed(1)} s)`);
}

function render(box, status) {
  const q = status.queue;
  fill(box, el("span", {class: "counts", title: `version ${status.version}`},
    `queue: ${q.pending_work_units} pending · ${q.in_progress_work_units} running · ${q.failed_work_units} failed`),
  q.running.length ? el("ul", {class: "running"}, q.running.map(runningUnit)) : el("span", {class: "idle"}, " · idle"));
  box.classList.toggle("busy", q.running.length > 0 || q.pending_work_units > 0);
}

/** Poll forever (a failed poll shows its error and tries again next time). */
export function watchQueue(box) {
  const tick = async () => {
    try {
      render(box, await api("GET", "/status?minutes=15"));
    } catch (error) {
      fill(box, el("span", {class: "error"}, `queue: ${error.message}`));
    }
    setTimeout(tick, document.hidden ? EVERY_MS * 5 : EVERY_MS);
  };
  tick();
}
