// Building the page's elements from data.  Every text from the server or
// a user goes in through textContent or a text node, never as HTML; links
// are made only for http(s) URLs, as <a> elements built here; control
// characters are shown by name, never acted on.

/** How many sender colours app.css defines (--sender-0 ...). */
export const SENDER_COLOURS = 12;

/** Create an element with classes and, optionally, its text. */
export function element(tag, className = "", text = null) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== null) node.textContent = text;
  return node;
}

/** A sender's colour class, the same for a name on every page (FNV-1a). */
export function colourClass(name) {
  let hash = 0x811c9dc5;
  for (const char of String(name).normalize("NFKC").toLowerCase()) {
    hash ^= char.codePointAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `colour-${hash % SENDER_COLOURS}`;
}

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/giu;
const TRAILING = /[.,;:!?)\]}'"]+$/u;

// Characters shown escaped, as the server's text mode shows them
// (docs/protocol.rst, "Control characters in text mode"): C0 controls but
// tab, DEL, C1 controls, bidi controls, line and paragraph separators.  A
// bidi override must not reverse the rest of a line, nor an escape hide.
const CONTROLS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/gu;

/** How a control character is shown: ^[ for ESC, <U+202E> and so on. */
export function controlName(char) {
  const code = char.codePointAt(0);
  if (code < 0x20) return `^${String.fromCharCode(code + 0x40)}`;
  if (code === 0x7f) return "^?";
  return `<U+${code.toString(16).toUpperCase().padStart(4, "0")}>`;
}

/**
 * Append a user's `text` to `parent`: text nodes, control characters
 * shown by name (in a .control span), and, if `links`, http(s) URLs as
 * links.
 */
export function appendText(parent, text, links = true) {
  let last = 0;
  for (const match of text.matchAll(CONTROLS)) {
    appendPlain(parent, text.slice(last, match.index), links);
    parent.append(element("span", "control", controlName(match[0])));
    last = match.index + match[0].length;
  }
  appendPlain(parent, text.slice(last), links);
}

function appendPlain(parent, text, links) {
  if (!text) return;
  if (links) appendLinkified(parent, text);
  else parent.append(document.createTextNode(text));
}

/**
 * Append `text` to `parent` as text nodes, with http(s) URLs as links that
 * open in a new tab without telling it who opened it.
 */
export function appendLinkified(parent, text) {
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    let found = match[0];
    const trailing = found.match(TRAILING);
    if (trailing !== null && !(trailing[0].startsWith(")") && found.includes("("))) {
      found = found.slice(0, found.length - trailing[0].length);
    }
    const url = safeUrl(found);
    if (url === null) continue;
    parent.append(document.createTextNode(text.slice(last, match.index)));
    const link = element("a", "", found);
    link.href = url;
    link.rel = "noopener noreferrer";
    link.target = "_blank";
    parent.append(link);
    last = match.index + found.length;
  }
  parent.append(document.createTextNode(text.slice(last)));
}

function safeUrl(text) {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** "14:03" for today, "2026-11-21 14:03" before; the full time as a tooltip. */
export function timeElement(iso) {
  const when = iso ? new Date(iso) : new Date();
  const valid = !Number.isNaN(when.getTime());
  const date = valid ? when : new Date();
  const node = element("time", "time");
  node.dateTime = date.toISOString();
  const hhmm = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  node.textContent = sameDay ? hhmm : `${day} ${hhmm}`;
  node.title = date.toLocaleString();
  return node;
}

function pad(number) {
  return String(number).padStart(2, "0");
}

/**
 * One line of a conversation: {kind: message|action|private|event|error,
 * from, text, time, id, flags: [history, offline, mention, own, ...]}.
 */
export function lineElement(line) {
  const node = element("div", `line ${line.kind}`);
  for (const flag of line.flags || []) node.classList.add(flag);
  if (line.id) node.dataset.id = String(line.id);
  node.append(timeElement(line.time), " ");
  if (line.from) {
    const sender = element("span", `sender ${colourClass(line.from)}`, line.from);
    node.append(sender, " ");
  }
  const text = element("span", "text");
  const kind = line.kind.split(" ")[0];
  if (kind === "event" || kind === "error") {
    // The server's own lines: several are joined with newlines (/help).
    line.text.split("\n").forEach((part, index) => {
      if (index > 0) text.append("\n");
      appendText(text, part, kind === "event");
    });
  } else {
    appendText(text, line.text);
  }
  node.append(text);
  if (line.flags && line.flags.includes("offline")) {
    node.append(element("span", "badge", "offline"));
  }
  return node;
}

/** A sidebar button for a conversation. */
export function conversationButton(conversation) {
  const button = element("button", `conversation ${conversation.kind}`);
  button.type = "button";
  button.dataset.conversation = conversation.key;
  button.append(element("span", "name", conversation.title));
  button.append(element("span", "mention-count"));
  button.append(element("span", "unread"));
  return button;
}

/** Show a conversation's counts on its button (empty when 0). */
export function updateConversationButton(button, conversation, current) {
  const unread = button.querySelector(".unread");
  const mentions = button.querySelector(".mention-count");
  unread.textContent = conversation.unread > 0 ? String(conversation.unread) : "";
  mentions.textContent = conversation.mentions > 0 ? `@${conversation.mentions}` : "";
  let label = conversation.title;
  if (conversation.unread > 0) label += `, ${conversation.unread} unread`;
  if (conversation.mentions > 0) label += `, ${conversation.mentions} mentioning you`;
  button.setAttribute("aria-label", label);
  button.classList.toggle("has-unread", conversation.unread > 0);
  button.classList.toggle("left", conversation.left === true);
  if (current) button.setAttribute("aria-current", "true");
  else button.removeAttribute("aria-current");
}

/** A member of the list: "@" owner, "+" operator. */
export function memberItem(name, role, me) {
  const item = element("li", `member ${colourClass(name)}`);
  if (role) item.append(element("span", `role ${role}`, role === "owner" ? "@" : "+"));
  item.append(element("span", "member-name", name));
  if (me) item.classList.add("me");
  if (role) item.title = role === "owner" ? `${name} (owner)` : `${name} (operator)`;
  return item;
}

/** "2.0 MiB": sizes as the server writes them. */
export function formatSize(bytes) {
  const units = ["bytes", "KiB", "MiB", "GiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}
