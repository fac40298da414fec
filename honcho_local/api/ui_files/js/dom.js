// DOM helpers. Every piece of stored data reaches the page through text nodes (textContent), never as
// markup: the server's data is untrusted, and the page's Content-Security-Policy forbids inline script anyway.

/** el("li", {class: "x", dataset: {id}, onclick: fn}, "text", childNode, ...) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** "2026-12-07 10:05:29" from an ISO-8601 string (UTC, as stored). */
export function when(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC") : "";
}

/** A link into the page's own hash routes. */
export function link(parts, text) {
  return el("a", {href: "#/" + parts.map(encodeURIComponent).join("/")}, text);
}

let noticeTimer = 0;

/** A short message at the bottom of the page (errors included). */
export function notice(text, isError = false) {
  const box = document.getElementById("notice");
  box.textContent = text;
  box.className = isError ? "error" : "";
  box.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { box.hidden = true; }, isError ? 10000 : 4000);
}

/** A button that must be clicked twice (within 5 s) before `action` runs. */
export function confirmButton(label, action) {
  const button = el("button", {type: "button", class: "danger"}, label);
  let armed = false;
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      button.textContent = "Really " + label.toLowerCase() + "?";
      button.classList.add("armed");
      setTimeout(() => { armed = false; button.textContent = label; button.classList.remove("armed"); }, 5000);
      return;
    }
    button.disabled = true;
    try { await action(); } catch (error) { button.disabled = false; notice(error.message, true); }
  });
  return button;
}
