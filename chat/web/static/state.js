// The conversations and what the server's events do to them: which
// conversation a line goes to, unread and mention counts, members, topics,
// history (loaded when a conversation opens, older lines on scrolling up)
// and the history ids that keep any line from being shown twice.

import { fold } from "./syntax.js";
import {
  appendText,
  conversationButton,
  element,
  lineElement,
  memberItem,
  updateConversationButton,
} from "./render.js";

export const ALL = "ALL";
/** History lines asked for when a conversation is first opened. */
export const HISTORY_FIRST = 50;
/** More asked for each time the top is reached; the server gives 200 at most. */
export const HISTORY_STEP = 50;
export const HISTORY_MAX = 200;
/** Lines kept per conversation; the oldest go first. */
export const LINES_KEPT = 5000;
/** Members listed at most (a big server lists a count beyond). */
const MEMBERS_SHOWN = 500;
/** Pixels from the bottom that still count as "reading the newest". */
const STICKY = 40;

/** A conversation's key: "ALL", "#room" or "@name". */
export function keyOf(kind, name) {
  if (kind === "all") return ALL;
  return kind === "room" ? name : `@${name}`;
}

export class Chat {
  /**
   * dom: {list, messages, title, topic, members, membersTitle};
   * hooks: send(line), connected() (logged in, lines go out now), changed()
   * (counts changed), notify(conversation, line), opened(conversation).
   */
  constructor(dom, hooks) {
    this.dom = dom;
    this.hooks = hooks;
    this.me = null;
    this.registered = false;
    this.conversations = new Map(); // fold(key) -> conversation
    this.users = new Map(); // fold(name) -> name, everyone online
    this.userCount = 0;
    this.byId = new Map(); // history id -> line element
    this.barriers = []; // called as the server answers each "/mode json"
    this.unanswered = []; // the user's private messages, until delivered or queued
    this.answersPrivate = false; // the server says "delivered" (docs/protocol.rst)
    this.quietWho = new Set(); // rooms whose /who answer is not shown
    this.joining = new Set(); // rooms the user asked to join: opened when joined
    this.current = this.ensure("all", ALL);
    this.open(ALL);
  }

  // Conversations.

  find(key) {
    return this.conversations.get(fold(key)) || null;
  }

  /** The conversation, made (and listed in the sidebar) if new. */
  ensure(kind, name) {
    const key = keyOf(kind, name);
    const found = this.find(key);
    if (found !== null) return found;
    const conversation = {
      key,
      kind,
      name,
      title: kind === "private" ? name : key,
      lines: element("div", "lines"),
      unread: 0,
      mentions: 0,
      members: new Map(), // fold(name) -> {name, role}
      memberCount: 0,
      topic: "",
      left: false,
      loaded: false, // history asked for once
      asked: 0, // the largest N asked for
      complete: false, // nothing older to ask for
      loading: false,
      replay: [], // private history being gathered
      stick: true,
      scrollTop: 0,
      maxId: 0,
      received: 0, // history lines since the last request
    };
    conversation.button = conversationButton(conversation);
    conversation.button.addEventListener("click", () => this.open(conversation.key));
    this.conversations.set(fold(key), conversation);
    this.placeButton(conversation);
    this.refreshButton(conversation);
    return conversation;
  }

  placeButton(conversation) {
    const item = element("li");
    item.append(conversation.button);
    const order = (c) => `${c.kind === "all" ? 0 : c.kind === "room" ? 1 : 2}${fold(c.title)}`;
    const mine = order(conversation);
    for (const other of this.dom.list.children) {
      const button = other.querySelector("button.conversation");
      const them = this.find(button.dataset.conversation);
      if (them !== null && order(them) > mine) {
        this.dom.list.insertBefore(item, other);
        return;
      }
    }
    this.dom.list.append(item);
  }

  remove(conversation) {
    if (conversation.kind === "all") return;
    for (const line of conversation.lines.querySelectorAll(".line[data-id]")) {
      this.byId.delete(Number(line.dataset.id));
    }
    conversation.button.parentElement.remove();
    this.conversations.delete(fold(conversation.key));
    if (this.current === conversation) this.open(ALL);
    this.hooks.changed();
  }

  /** Show a conversation, load its history the first time. */
  open(key) {
    const conversation = this.find(key);
    if (conversation === null) return null;
    const previous = this.current;
    if (previous && previous !== conversation) this.saveScroll(previous);
    this.current = conversation;
    this.dom.messages.replaceChildren(conversation.lines);
    for (const c of this.conversations.values()) this.refreshButton(c);
    this.markRead(conversation);
    this.renderHeader();
    this.renderMembers();
    this.restoreScroll(conversation);
    if (!conversation.loaded && this.me !== null) this.loadHistory(conversation, HISTORY_FIRST);
    this.hooks.opened(conversation);
    return conversation;
  }

  /** The neighbouring conversation in sidebar order (step -1 or +1). */
  neighbour(step) {
    const buttons = [...this.dom.list.querySelectorAll("button.conversation")];
    const at = buttons.indexOf(this.current.button);
    const next = buttons[(at + step + buttons.length) % buttons.length];
    return next ? next.dataset.conversation : ALL;
  }

  markRead(conversation) {
    if (conversation.unread === 0 && conversation.mentions === 0) return;
    conversation.unread = 0;
    conversation.mentions = 0;
    this.refreshButton(conversation);
    this.hooks.changed();
  }

  totalUnread() {
    let total = 0;
    for (const c of this.conversations.values()) total += c.unread;
    return total;
  }

  refreshButton(conversation) {
    updateConversationButton(conversation.button, conversation, conversation === this.current);
  }

  renderHeader() {
    const c = this.current;
    this.dom.title.textContent = c.kind === "private" ? `Private: ${c.title}` : c.title;
    let topic = c.topic;
    if (c.kind === "all") topic = "Everyone online";
    if (c.kind === "private") topic = `Private conversation with ${c.name}`;
    if (c.left) topic = "You are not in this room; /join to come back.";
    this.dom.topic.replaceChildren();
    appendText(this.dom.topic, topic); // a topic is a user's text
  }

  renderMembers() {
    const c = this.current;
    let members;
    let count;
    if (c.kind === "all") {
      members = [...this.users.values()].map((name) => ({ name, role: "" }));
      count = Math.max(this.userCount, members.length);
    } else if (c.kind === "room") {
      members = [...c.members.values()];
      count = Math.max(c.memberCount, members.length);
    } else {
      members = [this.me, c.name].filter(Boolean).map((name) => ({ name, role: "" }));
      count = members.length;
    }
    const rank = { owner: 0, operator: 1, "": 2 };
    members.sort((a, b) => rank[a.role] - rank[b.role] || fold(a.name).localeCompare(fold(b.name)));
    const items = members
      .slice(0, MEMBERS_SHOWN)
      .map((m) => memberItem(m.name, m.role, this.me !== null && fold(m.name) === fold(this.me)));
    if (count > items.length) {
      items.push(element("li", "more", `and ${count - items.length} more`));
    }
    this.dom.members.replaceChildren(...items);
    this.dom.membersTitle.textContent = `Members (${count})`;
  }

  // Scrolling.

  atBottom() {
    const m = this.dom.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < STICKY;
  }

  saveScroll(conversation) {
    conversation.stick = this.atBottom();
    conversation.scrollTop = this.dom.messages.scrollTop;
  }

  restoreScroll(conversation) {
    const m = this.dom.messages;
    m.scrollTop = conversation.stick ? m.scrollHeight : conversation.scrollTop;
  }

  /** Run `change` on the current conversation's lines keeping the view still. */
  keepingView(conversation, change) {
    if (conversation !== this.current) return change();
    const m = this.dom.messages;
    const stick = this.atBottom();
    const fromBottom = m.scrollHeight - m.scrollTop;
    const result = change();
    m.scrollTop = stick ? m.scrollHeight : m.scrollHeight - fromBottom;
    return result;
  }

  // Lines.

  /**
   * Show a line in a conversation: appended, or for history put in the
   * order of its id.  Returns the element, or null if that id was shown.
   */
  add(conversation, line) {
    if (line.flags && line.flags.includes("history")) conversation.received += 1;
    if (line.id && this.byId.has(line.id)) return null;
    if (line.id && this.claimEcho(conversation, line)) return null;
    const node = lineElement(line);
    this.keepingView(conversation, () => {
      const before = line.flags && line.flags.includes("history") ? this.placeOf(conversation, line.id) : null;
      conversation.lines.insertBefore(node, before);
      this.trim(conversation);
    });
    if (line.id) {
      this.byId.set(line.id, node);
      conversation.maxId = Math.max(conversation.maxId, line.id);
    }
    this.count(conversation, line);
    return node;
  }

  /** The first line with a higher id: history goes before it. */
  placeOf(conversation, id) {
    if (!id) return null;
    for (const node of conversation.lines.querySelectorAll(".line[data-id]")) {
      if (Number(node.dataset.id) > id) return node;
    }
    return null;
  }

  /**
   * A line of the user's own, with its id (from history or a replay):
   * if it was shown when sent (the server does not echo), that line takes
   * the id instead of a second copy appearing.
   */
  claimEcho(conversation, line) {
    if (this.me === null || fold(line.from || "") !== fold(this.me)) return false;
    for (const node of conversation.lines.querySelectorAll(".line.own:not([data-id])")) {
      if (node.querySelector(".text").textContent === line.text && node.classList.contains(line.kind)) {
        node.dataset.id = String(line.id);
        this.byId.set(line.id, node);
        conversation.maxId = Math.max(conversation.maxId, line.id);
        return true;
      }
    }
    return false;
  }

  trim(conversation) {
    while (conversation.lines.childElementCount > LINES_KEPT) {
      const oldest = conversation.lines.firstElementChild;
      if (oldest.dataset.id) this.byId.delete(Number(oldest.dataset.id));
      oldest.remove();
      conversation.complete = false;
    }
  }

  /** Unread, mentions and notifications for a new line. */
  count(conversation, line) {
    const flags = line.flags || [];
    const said = ["message", "action", "private"].includes(line.kind) || flags.includes("file-offer");
    if (!said || flags.includes("history") || flags.includes("own")) return;
    const unseen = conversation !== this.current || document.hidden;
    if (unseen) {
      conversation.unread += 1;
      if (flags.includes("mention")) conversation.mentions += 1;
      this.refreshButton(conversation);
      this.hooks.changed();
    }
    if (flags.includes("mention") || conversation.kind === "private") this.hooks.notify(conversation, line);
  }

  /** Remember a private message sent: the server answers each, in order. */
  sentPrivate(node) {
    if (!this.answersPrivate) return; // a server that does not answer each
    node.classList.add("pending");
    this.unanswered.push(node);
  }

  /** The answer to the oldest private message: delivered, queued or failed. */
  answered(how) {
    if (how === "delivered") this.answersPrivate = true;
    const node = this.unanswered.shift();
    if (!node) return;
    node.classList.remove("pending");
    if (how !== "delivered") node.classList.add(how);
  }

  /** A notice (server text, an error) in a conversation, the current by default. */
  notice(text, kind = "event", conversation = this.current, time = null) {
    const shown = String(text || "").replace(/^\* /gmu, "");
    if (!shown) return null;
    return this.add(conversation, { kind, text: shown, time, flags: [] });
  }

  /** Forget every history id: the server lost its history and reuses them. */
  forgetIds() {
    for (const node of this.byId.values()) delete node.dataset.id;
    this.byId.clear();
    for (const c of this.conversations.values()) c.maxId = 0;
  }

  // History.

  /**
   * Ask for the last `n` lines of a conversation's history.  The request
   * is followed by a barrier: when its answer comes, the history has all
   * arrived (the server answers a connection's lines in order), whatever
   * other history (a login's, a join's) came meanwhile.
   */
  loadHistory(conversation, n) {
    if (conversation.loading || conversation.left || !this.hooks.connected()) return;
    if (conversation.kind === "private" && !this.registered) {
      conversation.loaded = true;
      conversation.complete = true;
      return; // only registered users have private history
    }
    const target = conversation.kind === "all" ? "" : `${conversation.name} `;
    conversation.loaded = true;
    conversation.loading = true;
    conversation.asked = n;
    conversation.received = 0;
    this.hooks.send(`/history ${target}${n}`);
    this.barrier(() => {
      conversation.loading = false;
      if (conversation.received < n || n >= HISTORY_MAX) conversation.complete = true;
    });
  }

  /** Scrolled to the top: ask for more, if there may be more. */
  loadOlder() {
    const c = this.current;
    if (!c.loaded || c.loading || c.complete || c.asked >= HISTORY_MAX) return;
    this.loadHistory(c, Math.min(HISTORY_MAX, c.asked + HISTORY_STEP));
  }

  /**
   * Call `then` once the server has answered every line sent so far:
   * "/mode json" is answered in order, by a "mode" event of its own.
   */
  barrier(then) {
    if (!this.hooks.connected()) {
      then(); // nothing sent is waiting for an answer
      return;
    }
    this.barriers.push(then);
    this.hooks.send("/mode json");
  }

  /** The answer to the oldest barrier. */
  modeAnswered() {
    const then = this.barriers.shift();
    if (then) then();
  }

  /** A new connection: requests of the old one will not be answered. */
  reset() {
    this.barriers = [];
    this.unanswered = [];
    for (const c of this.conversations.values()) {
      c.loading = false;
      c.replay = [];
    }
  }

  /** The end of a history: a private one is put in the conversation. */
  historyEnded(event) {
    if (event.missed || !event.with) return;
    const conversation = this.find(`@${event.with}`);
    if (conversation !== null) this.mergePrivate(conversation);
  }

  /** A guest's private history was asked for: not an error to show. */
  historyRefused(code) {
    if (code !== "no-private-history") return false;
    return [...this.conversations.values()].some((c) => c.kind === "private" && c.loading);
  }

  /**
   * A private conversation's history arrived whole: put in the lines not
   * shown already (private history has no ids, so a shown line is one
   * with the same sender and text), oldest first, above what is shown.
   */
  mergePrivate(conversation) {
    const replay = conversation.replay;
    conversation.replay = [];
    const shown = [...conversation.lines.querySelectorAll(".line.private")].map(
      (node) => `${fold(node.querySelector(".sender")?.textContent || "")}\n${node.querySelector(".text").textContent}`,
    );
    conversation.received += replay.length;
    const fresh = [];
    for (let i = replay.length - 1; i >= 0; i--) {
      const key = `${fold(replay[i].from)}\n${replay[i].text}`;
      const at = shown.lastIndexOf(key);
      if (at >= 0) shown.splice(at, 1);
      else fresh.unshift(replay[i]);
    }
    this.keepingView(conversation, () => {
      const first = conversation.lines.firstElementChild;
      for (const line of fresh) conversation.lines.insertBefore(lineElement(line), first);
    });
  }

  // Members.

  setMembers(conversation, names, count, owner = null, operators = []) {
    conversation.members.clear();
    const ops = new Set(operators.map(fold));
    for (const name of names) {
      const role = owner && fold(name) === fold(owner) ? "owner" : ops.has(fold(name)) ? "operator" : "";
      conversation.members.set(fold(name), { name, role });
    }
    conversation.memberCount = Math.max(count || 0, names.length);
    if (conversation === this.current) this.renderMembers();
  }

  addMember(conversation, name) {
    if (!conversation.members.has(fold(name))) conversation.memberCount += 1;
    conversation.members.set(fold(name), { name, role: "" });
    if (conversation === this.current) this.renderMembers();
  }

  removeMember(conversation, name) {
    if (conversation.members.delete(fold(name)) || conversation.memberCount > 0) {
      conversation.memberCount = Math.max(0, conversation.memberCount - 1);
    }
    if (conversation === this.current) this.renderMembers();
  }

  setUsers(names, count) {
    this.users = new Map(names.map((name) => [fold(name), name]));
    this.userCount = Math.max(count || 0, names.length);
    if (this.current.kind === "all") this.renderMembers();
  }
}
