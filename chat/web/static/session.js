// Logging in and staying logged in: the name and password prompts, the
// server's refusals as it words them, reconnection that logs in again
// with the password kept in memory only (never in storage), the resume
// of chat-client (chat/client/session.py): "/since ID" before the name,
// rooms joined again, stored messages acknowledged and never shown twice.

import { ALL, HISTORY_FIRST } from "./state.js";
import { handleEvent } from "./events.js";
import { fold } from "./syntax.js";

/** Refusals of a name: the user chooses another. */
const NAME_ERRORS = new Set(["invalid-name", "reserved-name", "name-in-use", "lookalike-name"]);
/** Errors answering the /join sent to put the user back in a room. */
const REJOIN_ERRORS = new Set(["already-in-room", "invite-only", "no-such-room", "invalid-room", "not-in-room", "usage"]);
/** Stored-message ids acknowledged per /ack line. */
const ACK_BATCH = 50;
/** Lines typed while disconnected, sent after the next login. */
const PENDING_MAX = 100;
/** Stored-message ids remembered, so that a redelivery is not shown twice. */
const STORED_KEPT = 10000;

export class Session {
  /**
   * ui: stage(stage, details), loginError(text), loggedIn(), loggedOut(text),
   * banner(state, milliseconds); files: the transfers (intercept, attach, detach).
   */
  constructor(connection, chat, files, ui) {
    this.connection = connection;
    this.chat = chat;
    this.files = files;
    this.ui = ui;
    this.name = null;
    this.password = null; // in memory only, to log in again
    this.wanted = false; // the user asked to log in
    this.awaiting = null; // "name" | "password" | null: the server's prompt
    this.joined = false;
    this.everJoined = false;
    this.quitting = false;
    this.sentPassword = false;
    this.proposed = new Map(); // account action -> the password it sets
    this.unacked = [];
    this.shownStored = new Set();
    this.rejoining = []; // rooms (folded) whose /join is unanswered
    this.confirmed = new Set(); // rooms the server put the user back in
    this.pending = [];
  }

  // From the login form.

  /** Log in as `name`, with `password` if the name turns out registered. */
  login(name, password) {
    const renamed = this.name !== null && fold(name) !== fold(this.name);
    this.name = name;
    if (password) this.password = password;
    else if (renamed) this.password = null;
    this.wanted = true;
    this.quitting = false;
    if (this.connection.open && this.awaiting === "name") {
      this.sendName();
    } else if (this.connection.open && this.awaiting === "password" && !renamed && this.password) {
      this.sendPassword();
    } else if (this.connection.open || this.connection.connecting) {
      if (renamed || this.awaiting === null) this.restart();
    } else {
      this.connection.automatic = this.everJoined;
      this.connection.connect();
    }
  }

  restart() {
    this.connection.close();
    this.connection.automatic = this.everJoined;
    this.connection.connect();
  }

  sendName() {
    this.awaiting = null;
    this.connection.send(this.name);
  }

  sendPassword() {
    this.awaiting = null;
    this.sentPassword = true;
    this.connection.send(this.password);
  }

  // Lines from the composer.

  /** Send a line now, or after the next login if the connection is down. */
  send(line) {
    if (this.joined && this.connection.send(line)) return true;
    if (this.pending.length >= PENDING_MAX) return false;
    this.pending.push(line);
    return true;
  }

  /** An account command: remember the password it sets, once confirmed. */
  accountCommand(command, args) {
    const words = args.split(" ").filter(Boolean);
    if (command === "register" && words.length === 1) this.proposed.set("registered", words[0]);
    if (command === "password" && words.length === 2) this.proposed.set("password-changed", words[1]);
  }

  quit(reason) {
    this.quitting = true;
    this.connection.automatic = false;
    this.send(reason ? `/quit ${reason}` : "/quit");
  }

  // From the connection.

  opened() {
    this.joined = false;
    this.awaiting = null;
    this.sentPassword = false;
    this.unacked = [];
    this.rejoining = [];
    this.confirmed = new Set();
    this.chat.reset();
    const all = this.chat.find(ALL);
    if (this.everJoined && all.maxId > 0) this.connection.send(`/since ${all.maxId}`);
    this.ui.banner(this.everJoined ? "logging-in" : "hidden");
  }

  closed(close) {
    const wasJoined = this.joined;
    this.joined = false;
    this.awaiting = null;
    this.files.detach();
    if (this.quitting) {
      this.connection.automatic = false;
      this.ui.banner("hidden");
      this.ui.loggedOut("You left the chat. Log in again to come back.");
      return;
    }
    if (this.everJoined && this.wanted) {
      this.connection.automatic = true;
      if (wasJoined) this.chat.notice("Connection lost; reconnecting…", "event", this.chat.find(ALL));
      return;
    }
    if (this.wanted && !close.heard) {
      this.ui.loginError("Could not reach the chat server; check that it runs, then try again.");
    }
  }

  waiting(delay) {
    this.ui.banner("waiting", delay);
  }

  /** One event from the server. */
  event(e) {
    if (this.files.intercept(e)) return;
    switch (e.type) {
      case "prompt":
        return this.prompted(e);
      case "welcome":
        return this.welcomed(e);
      case "error":
        return this.error(e);
      case "private":
        if (e.stored && !this.storedIsNew(e)) return;
        break;
      case "stored-end":
        this.sendAcks();
        break;
      case "account":
        this.accountChanged(e);
        break;
      case "goodbye":
        this.quitting = true;
        this.connection.automatic = false;
        break;
      case "room-joined":
        this.confirmed.add(fold(e.room || ""));
        this.rejoinAnswered(fold(e.room || ""));
        break;
      default:
        break;
    }
    handleEvent(this.chat, e);
  }

  prompted(e) {
    if (e.prompt === "password") {
      this.awaiting = "password";
      if (this.password) return this.sendPassword();
      this.ui.stage("password", {
        name: String(e.name || this.name || ""),
        insecure: e.insecure === true,
        text: String(e.text || ""),
      });
      return;
    }
    this.awaiting = "name";
    if (this.wanted && this.name) this.sendName();
    else this.ui.stage("name", {});
  }

  welcomed(e) {
    const first = !this.everJoined;
    this.joined = true;
    this.everJoined = true;
    this.connection.automatic = true;
    this.connection.succeeded();
    this.chat.registered = this.sentPassword || this.chat.registered;
    if (typeof e.name === "string") this.name = e.name;
    this.chat.me = this.name;
    remember(this.name);
    const newest = Number.isSafeInteger(e.history_id) ? e.history_id : null;
    if (newest !== null && newest < this.newestShown()) this.chat.forgetIds();
    this.chat.setUsers(
      Array.isArray(e.users) ? e.users.filter((u) => typeof u === "string") : [],
      Number(e.count) || 0,
    );
    this.ui.banner("hidden");
    this.ui.loggedIn();
    if (first) handleEvent(this.chat, e);
    else this.chat.notice("Reconnected.", "event", this.chat.find(ALL), e.time);
    // Once the login has brought all it brings (stored messages, the rooms
    // the server put a registered user back in), the rest: the rooms to
    // join again, ALL's history, what was typed while away.
    this.chat.barrier(() => {
      this.rejoin(this.confirmed);
      const all = this.chat.find(ALL);
      if (!all.loaded) this.chat.loadHistory(all, HISTORY_FIRST);
      for (const line of this.pending.splice(0)) this.connection.send(line);
    });
  }

  newestShown() {
    let newest = 0;
    for (const c of this.chat.conversations.values()) newest = Math.max(newest, c.maxId);
    return newest;
  }

  error(e) {
    const code = e.code;
    if (code === "unknown-history-id") {
      this.chat.forgetIds(); // another server, or one that lost its history
      return;
    }
    if (!this.joined) {
      if (code === "wrong-password") this.password = null;
      if (NAME_ERRORS.has(code) || code === "wrong-password") this.wanted = false;
      this.ui.loginError(String(e.text || ""));
      if (!this.everJoined || NAME_ERRORS.has(code) || code === "wrong-password") {
        this.connection.automatic = this.everJoined && this.wanted;
        this.ui.loggedOut(null);
      }
      return;
    }
    if (this.rejoining.length > 0 && REJOIN_ERRORS.has(code)) return this.rejoinRefused(e);
    handleEvent(this.chat, e);
  }

  // Stored messages.

  storedIsNew(e) {
    const id = Number.isSafeInteger(e.id) ? e.id : null;
    if (id === null) return true;
    this.unacked.push(id);
    if (this.shownStored.has(id)) {
      if (this.joined) this.sendAcks(); // our acknowledgement was lost
      return false;
    }
    this.shownStored.add(id);
    if (this.shownStored.size > STORED_KEPT) this.shownStored.delete(this.shownStored.values().next().value);
    return true;
  }

  sendAcks() {
    const ids = this.unacked.splice(0);
    for (let at = 0; at < ids.length; at += ACK_BATCH) {
      this.connection.send(`/ack ${ids.slice(at, at + ACK_BATCH).join(" ")}`);
    }
  }

  accountChanged(e) {
    if (e.action === "unregistered") {
      this.password = null;
      this.proposed.clear();
      this.chat.registered = false;
      return;
    }
    const password = this.proposed.get(e.action);
    this.proposed.delete(e.action);
    if (password) this.password = password;
    this.chat.registered = true;
  }

  // Rooms after a reconnection.

  rooms() {
    return [...this.chat.conversations.values()].filter((c) => c.kind === "room" && !c.left);
  }

  rejoin(inside) {
    for (const room of this.rooms()) {
      const key = fold(room.key);
      if (inside.has(key)) continue;
      this.rejoining.push(key);
      // Only what was missed; lines shown already are dropped by id anyway.
      this.connection.send(room.maxId > 0 ? `/join ${room.key} ${room.maxId}` : `/join ${room.key}`);
    }
  }

  rejoinAnswered(key) {
    const at = this.rejoining.indexOf(key);
    if (at >= 0) this.rejoining.splice(at, 1);
  }

  rejoinRefused(e) {
    const key = this.rejoining.shift();
    if (e.code === "already-in-room") return;
    const room = this.chat.find(key);
    if (e.code === "usage" && room !== null) {
      // A server without "/join #room ID": the whole replay, dropped by id.
      this.rejoining.push(key);
      this.connection.send(`/join ${room.key}`);
      return;
    }
    this.chat.notice(`Could not rejoin ${room ? room.key : key}: ${e.text}`, "error", room || this.chat.current);
    if (room !== null) {
      room.left = true;
      this.chat.refreshButton(room);
    }
  }
}

/** The name (never the password) is kept for the next visit. */
function remember(name) {
  try {
    localStorage.setItem("txchat.name", name);
  } catch {
    // Storage may be off (private browsing): the name is typed again.
  }
}

export function rememberedName() {
  try {
    return localStorage.getItem("txchat.name") || "";
  } catch {
    return "";
  }
}
