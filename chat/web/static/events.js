// What each event of the server's JSON mode (docs/protocol.rst) shows,
// and where: the conversation it belongs to, or the one open for answers
// to commands.

import { ALL } from "./state.js";
import { fold } from "./syntax.js";

/** Errors that answer a private message (docs/protocol.rst, "Offline messages"). */
const PRIVATE_ERRORS = new Set(["no-such-user", "queue-full", "store-failed"]);

const HANDLERS = {
  message: said,
  action: said,
  private: privateMessage,
  join: (chat, e) => {
    if (e.name) chat.users.set(fold(e.name), e.name);
    chat.userCount += 1;
    if (chat.current.kind === "all") chat.renderMembers();
    chat.notice(e.text, "event", chat.find(ALL), e.time);
  },
  leave: (chat, e) => {
    if (e.name) chat.users.delete(fold(e.name));
    chat.userCount = Math.max(chat.users.size, chat.userCount - 1);
    if (chat.current.kind === "all") chat.renderMembers();
    chat.notice(e.text, "event", chat.find(ALL), e.time);
  },
  users: (chat, e) => {
    chat.setUsers(stringList(e.users), e.users?.length);
    chat.notice(e.text, "event", chat.current, e.time);
  },
  "room-joined": roomJoined,
  "room-join": (chat, e) => {
    const room = roomOf(chat, e);
    if (e.name) chat.addMember(room, e.name);
    chat.notice(e.text, "event", room, e.time);
  },
  "room-leave": roomLeave,
  "room-topic": (chat, e) => {
    const room = roomOf(chat, e);
    room.topic = typeof e.topic === "string" ? e.topic : "";
    if (room === chat.current) chat.renderHeader();
    chat.notice(e.text, "event", room, e.time);
  },
  "room-op": (chat, e) => {
    const room = roomOf(chat, e);
    const member = room.members.get(fold(e.name || ""));
    if (member && member.role !== "owner") member.role = e.op ? "operator" : "";
    if (room === chat.current) chat.renderMembers();
    chat.notice(e.text, "event", room, e.time);
  },
  "room-members": (chat, e) => {
    const room = roomOf(chat, e);
    chat.setMembers(room, stringList(e.members), e.count, e.owner, stringList(e.operators));
    if (chat.quietWho.delete(fold(e.room || ""))) return;
    chat.notice(e.text, "event", chat.current, e.time);
  },
  "room-mode": (chat, e) => chat.notice(e.text, "event", roomOf(chat, e), e.time),
  "room-invited": (chat, e) => chat.notice(e.text, "event", roomOf(chat, e), e.time),
  "history-end": (chat, e) => chat.historyEnded(e),
  "stored-end": (chat, e) => {
    if (Number(e.count) > 0) chat.notice(e.text, "event", chat.find(ALL), e.time);
  },
  queued: (chat, e) => {
    chat.answered("queued");
    chat.notice(e.text, "event", privateWith(chat, e.to), e.time);
  },
  delivered: (chat) => chat.answered("delivered"),
  away: (chat, e) => chat.notice(e.text, "event", privateWith(chat, e.name), e.time),
  welcome: (chat, e) => chat.notice(e.text, "event", chat.find(ALL), e.time),
  help: (chat, e) => chat.notice(e.text, "event help", chat.current, e.time),
  mode: (chat) => chat.modeAnswered(),
  prompt: () => {},
  error: (chat, e) => {
    if (chat.historyRefused(e.code)) return;
    if (PRIVATE_ERRORS.has(e.code)) chat.answered("failed");
    chat.notice(e.text, "error", chat.current, e.time);
  },
};

/** Show an event in the chat (login and files are handled before). */
export function handleEvent(chat, event) {
  const handler = HANDLERS[event.type];
  if (handler) handler(chat, event);
  else chat.notice(event.text, "event", chat.current, event.time);
}

function stringList(value) {
  return Array.isArray(value) ? value.filter((v) => typeof v === "string") : [];
}

function roomOf(chat, event) {
  return chat.ensure("room", String(event.room || ""));
}

function privateWith(chat, name) {
  return chat.ensure("private", String(name || ""));
}

function flagsOf(event) {
  const flags = [];
  if (event.history) flags.push("history");
  if (event.missed) flags.push("missed");
  if (event.mention) flags.push("mention");
  return flags;
}

/** A message or action to everyone or to a room, live or history. */
function said(chat, e) {
  const conversation = e.room ? roomOf(chat, e) : chat.find(ALL);
  const id = Number.isSafeInteger(e.id) && e.id > 0 ? e.id : null;
  const mine = chat.me !== null && fold(e.from || "") === fold(chat.me);
  const flags = flagsOf(e);
  if (mine) flags.push("own");
  chat.add(conversation, { kind: e.type, from: e.from, text: String(e.text ?? ""), time: e.time, id, flags });
}

/** A private message: live, stored while offline, or history. */
function privateMessage(chat, e) {
  const me = chat.me !== null ? fold(chat.me) : null;
  const other = e.history ? e.with : fold(e.from || "") === me ? e.to : e.from;
  const conversation = privateWith(chat, other);
  const line = {
    kind: e.action ? "action" : "private",
    from: e.from,
    text: String(e.text ?? ""),
    time: e.time,
    flags: flagsOf(e),
  };
  if (line.kind === "action") line.flags.push("private");
  if (e.stored) line.flags.push("offline");
  if (e.history) {
    conversation.replay.push(line); // shown with the history's end
    return;
  }
  chat.add(conversation, line);
}

function roomJoined(chat, e) {
  const room = roomOf(chat, e);
  const wasLeft = room.left;
  room.left = false;
  room.topic = typeof e.topic === "string" ? e.topic : "";
  chat.setMembers(room, stringList(e.members), e.count, e.owner);
  chat.refreshButton(room);
  chat.notice(e.text, "event", room, e.time);
  chat.quietWho.add(fold(room.key));
  chat.hooks.send(`/who ${room.key}`); // owner and operators, not in room-joined
  if (!e.rejoined && (chat.joining.delete(fold(room.key)) || wasLeft)) chat.open(room.key);
  else if (room === chat.current) chat.renderHeader();
}

function roomLeave(chat, e) {
  const room = roomOf(chat, e);
  const me = chat.me !== null && fold(e.name || "") === fold(chat.me);
  if (!me) {
    if (e.name) chat.removeMember(room, e.name);
    chat.notice(e.text, "event", room, e.time);
    return;
  }
  if (!e.by) {
    chat.remove(room); // the user's own /leave
    chat.notice(e.text, "event", chat.current, e.time);
    return;
  }
  room.left = true; // kicked: the conversation stays, to read
  room.members.clear();
  room.memberCount = 0;
  chat.notice(e.text, "event", room, e.time);
  chat.refreshButton(room);
  if (room === chat.current) {
    chat.renderHeader();
    chat.renderMembers();
  }
}
