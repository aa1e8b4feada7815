// The txchat web client: plain modern JavaScript modules, no framework,
// nothing vendored, no build step.  This module wires the page together:
// the login form, drawers, dialogs, keyboard shortcuts, dropping and
// pasting files, and the reconnection banner.

import { Composer } from "./composer.js";
import { Connection, socketUrl } from "./connection.js";
import { Files } from "./files.js";
import { Notifier } from "./notify.js";
import { Session, rememberedName } from "./session.js";
import { Chat } from "./state.js";

const $ = (id) => document.getElementById(id);
/** Below this width the sidebars are drawers (app.css agrees). */
const NARROW = window.matchMedia("(max-width: 639.98px)");

const notifier = new Notifier((key) => chat.open(key));
const chat = new Chat(
  {
    list: $("conversation-list"),
    messages: $("messages"),
    title: $("conversation-title"),
    topic: $("topic"),
    members: $("member-list"),
    membersTitle: $("members-title"),
  },
  {
    send: (line) => session.send(line),
    connected: () => session.joined && connection.open,
    changed: () => notifier.setUnread(chat.totalUnread()),
    notify: (conversation, line) => notifier.notify(conversation, line),
    opened: () => closeDrawers(false),
  },
);
const files = new Files((line) => session.send(line), chat, $("transfers"));
const connection = new Connection(socketUrl(window.location), {
  open: () => session.opened(),
  event: (e) => session.event(e),
  closed: (close) => session.closed(close),
  waiting: (delay) => session.waiting(delay),
});
const session = new Session(connection, chat, files, {
  stage: showStage,
  loginError: (text) => {
    $("login-error").textContent = text;
  },
  loggedIn,
  loggedOut,
  banner: showBanner,
});
const composer = new Composer($("composer"), $("input"), {
  session,
  chat,
  files,
  pickFile: () => $("file-input").click(),
});

// Login.

// The password field shows only while the server asks for a password.
function showStage(stage, details) {
  const asking = stage === "password";
  $("password-field").hidden = !asking;
  $("login-password").hidden = !asking;
  $("login-password").value = "";
  $("login-warning").hidden = !(asking && details.insecure);
  const info = $("login-info");
  info.hidden = !asking;
  if (asking) info.textContent = `${details.name} is a registered name; enter its password.`;
  showLogin();
  if (asking) $("login-password").focus();
}



function showLogin() {
  $("chat").hidden = true;
  $("login").hidden = false;
}

function loggedIn() {
  $("login").hidden = true;
  $("chat").hidden = false;
  $("login-error").textContent = "";
  $("login-password").value = ""; // the session keeps it, in memory
  $("my-name").textContent = chat.me;
  $("enable-notifications").hidden = !notifier.canAsk();
  chat.open(chat.current.key);
  $("input").focus();
}

function loggedOut(text) {
  showLogin();
  $("login-password").value = "";
  if (text) $("login-error").textContent = text;
  if ($("password-field").hidden) $("login-name").focus();
  else $("login-password").focus();
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = $("login-name").value.trim();
  if (!name) {
    $("login-error").textContent = "Enter a name to chat under.";
    $("login-name").focus();
    return;
  }
  $("login-error").textContent = "";
  session.login(name, $("login-password").value);
  notifier.ask(); // a click or Enter: browsers allow asking now
});

$("login-name").value = rememberedName();
$("login-name").focus();

// The banner while the connection is down.

let bannerTimer = null;

function showBanner(state, delay = 0) {
  clearInterval(bannerTimer);
  bannerTimer = null;
  const banner = $("banner");
  banner.hidden = state === "hidden";
  if (state === "logging-in") {
    $("banner-text").textContent = "Reconnected; logging in again…";
  } else if (state === "waiting") {
    const until = Date.now() + delay;
    const tick = () => {
      const seconds = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      $("banner-text").textContent = `Connection lost. Reconnecting in ${seconds} s…`;
    };
    tick();
    bannerTimer = setInterval(tick, 1000);
  }
  $("reconnect-now").hidden = state !== "waiting";
}

$("reconnect-now").addEventListener("click", () => connection.connect());

// Drawers (narrow screens) and dialogs.

function drawerButton(drawer) {
  return $(drawer.id === "conversations" ? "toggle-conversations" : "toggle-members");
}

function openDrawer(drawer) {
  closeDrawers(false);
  drawer.classList.add("open");
  drawerButton(drawer).setAttribute("aria-expanded", "true");
  $("backdrop").hidden = false;
  const first = drawer.querySelector("[aria-current=true]") || drawer.querySelector("button, li");
  if (first) first.focus();
}

function closeDrawers(refocus = true) {
  let was = null;
  for (const drawer of document.querySelectorAll(".drawer.open")) {
    drawer.classList.remove("open");
    was = drawerButton(drawer);
    was.setAttribute("aria-expanded", "false");
  }
  $("backdrop").hidden = true;
  if (refocus && was !== null) was.focus();
}

for (const [button, drawer] of [
  ["toggle-conversations", "conversations"],
  ["toggle-members", "members"],
]) {
  $(button).addEventListener("click", () => {
    if ($(drawer).classList.contains("open")) closeDrawers();
    else openDrawer($(drawer));
  });
}
$("backdrop").addEventListener("click", () => closeDrawers());
NARROW.addEventListener("change", () => closeDrawers(false));

/** Ask for one word in a dialog; calls `then` with it. */
function ask(title, label, placeholder, then) {
  const dialog = $("ask");
  $("ask-title").textContent = title;
  $("ask-label").textContent = label;
  const input = $("ask-input");
  input.value = "";
  input.placeholder = placeholder;
  dialog.onsubmit = (event) => {
    event.preventDefault();
    const value = input.value.trim();
    dialog.close();
    if (value) then(value);
  };
  dialog.showModal();
  input.focus();
}

$("ask-cancel").addEventListener("click", () => $("ask").close());
$("ask").addEventListener("close", () => $("input").focus());

$("join-room").addEventListener("click", () =>
  ask("Join a room", "Room name", "#room", (room) => composer.join(room)),
);
$("new-private").addEventListener("click", () =>
  ask("New private conversation", "User name", "name", (name) => composer.openPrivate(name)),
);
$("enable-notifications").addEventListener("click", async () => {
  await notifier.ask();
  $("enable-notifications").hidden = !notifier.canAsk();
});

// Keyboard: Alt+Up/Down switch conversations, Ctrl+K goes to the list,
// Escape closes drawers.

document.addEventListener("keydown", (event) => {
  if ($("chat").hidden) return;
  if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
    event.preventDefault();
    chat.open(chat.neighbour(event.key === "ArrowUp" ? -1 : 1));
    $("input").focus();
  } else if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
    event.preventDefault();
    if (NARROW.matches) openDrawer($("conversations"));
    else chat.current.button.focus();
  } else if (event.key === "Escape" && document.querySelector(".drawer.open")) {
    event.preventDefault();
    closeDrawers();
  }
});

// Up and Down move between conversations in the list.
$("conversation-list").addEventListener("keydown", (event) => {
  if (event.key !== "ArrowUp" && event.key !== "ArrowDown") return;
  const buttons = [...$("conversation-list").querySelectorAll("button.conversation")];
  const at = buttons.indexOf(document.activeElement);
  if (at < 0) return;
  event.preventDefault();
  const next = buttons[(at + (event.key === "ArrowUp" ? -1 : 1) + buttons.length) % buttons.length];
  next.focus();
});

// Older history when the top is reached.
$("messages").addEventListener("scroll", () => {
  if ($("messages").scrollTop < 60) chat.loadOlder();
});

// Reading: a visible tab clears the open conversation's count.
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) chat.markRead(chat.current);
});

// Files: the button, dropping onto the messages, pasting.

function sendFiles(list) {
  for (const file of list) files.offer(file, chat.current);
}

$("attach").addEventListener("click", () => $("file-input").click());
$("file-input").addEventListener("change", () => {
  sendFiles([...$("file-input").files]);
  $("file-input").value = "";
});
$("messages").addEventListener("dragover", (event) => {
  if (![...event.dataTransfer.types].includes("Files")) return;
  event.preventDefault();
  $("messages").classList.add("dropping");
});
$("messages").addEventListener("dragleave", () => $("messages").classList.remove("dropping"));
$("messages").addEventListener("drop", (event) => {
  $("messages").classList.remove("dropping");
  if (event.dataTransfer.files.length === 0) return;
  event.preventDefault();
  sendFiles([...event.dataTransfer.files]);
});
$("input").addEventListener("paste", (event) => {
  const pasted = [...(event.clipboardData?.files || [])];
  if (pasted.length === 0) return;
  event.preventDefault();
  sendFiles(pasted);
});
