// The composer: Enter sends, typed /commands work as in chat-client (the
// server carries out most of them as typed); the few that only make sense
// in a browser are done here.  Text typed in a room goes to that room, in
// a private conversation to that person, in ALL to everyone; the
// protocol's own prefixes (NAME*TEXT, #room*TEXT, ALL*TEXT) are honoured
// wherever typed.

import { classify, fold, isName, isRoom, splitWord } from "./syntax.js";

/** Lines recalled with the Up arrow. */
const RECALL_KEPT = 50;
/** Commands carried out here, for /help. */
export const CLIENT_HELP = [
  "In this web client:",
  "  /dm NAME, /query NAME   open a private conversation (with TEXT: send it)",
  "  /close                  close this private conversation",
  "  /send                   choose a file to send here (or drop or paste one)",
  "  /accept ID, /decline ID, /cancel ID   incoming and outgoing files",
  "  /clear                  clear this conversation's lines",
  "  In a room, /leave, /topic, /who and /history need no #room.",
];
const MODE_REFUSED =
  "The web client speaks the server's JSON mode and keeps it; /mode json|text is for nc and telnet. /mode #ROOM +i|-i still works.";

export class Composer {
  /** actions: session, chat, files, pickFile(). */
  constructor(form, input, actions) {
    this.form = form;
    this.input = input;
    this.session = actions.session;
    this.chat = actions.chat;
    this.files = actions.files;
    this.pickFile = actions.pickFile;
    this.recall = [];
    this.recallAt = 0;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    input.addEventListener("keydown", (event) => this.key(event));
    input.addEventListener("input", () => this.fit());
  }

  /** Grow the box with what is typed (CSS caps it at 30% of the screen). */
  fit() {
    this.input.style.height = "auto";
    this.input.style.height = `${this.input.scrollHeight + 2}px`;
  }

  key(event) {
    if (event.key === "Enter" && !event.isComposing) {
      event.preventDefault(); // one line per message: Enter sends, always
      this.submit();
    } else if (event.key === "ArrowUp" && !this.input.value.includes("\n") && this.input.selectionStart === 0) {
      this.recallLine(-1, event);
    } else if (event.key === "ArrowDown" && this.recallAt < this.recall.length) {
      this.recallLine(1, event);
    }
  }

  recallLine(step, event) {
    const at = this.recallAt + step;
    if (at < 0 || at > this.recall.length) return;
    event.preventDefault();
    this.recallAt = at;
    this.input.value = this.recall[at] ?? "";
    this.fit();
  }

  submit() {
    const text = this.input.value;
    this.input.value = "";
    this.fit();
    for (const line of text.split(/\r\n|\r|\n/u)) {
      if (line.trim()) this.run(line);
    }
    this.recallAt = this.recall.length;
  }

  remember(line) {
    this.recall.push(line);
    if (this.recall.length > RECALL_KEPT) this.recall.shift();
    this.recallAt = this.recall.length;
  }

  /** One line typed. */
  run(line) {
    if (line.startsWith("/")) {
      this.command(line);
      return;
    }
    this.remember(line);
    const current = this.chat.current;
    const said = classify(line);
    if (said.explicit || current.kind === "all") this.sendSaid(line, said);
    else if (current.kind === "room") this.sendSaid(`/say ${current.key} ${line}`, { kind: "message", text: line, room: current.key });
    else this.sendSaid(`/dm ${current.name} ${line}`, { kind: "private", text: line, to: current.name });
  }

  /** Send a message and show it: the server does not echo one's own. */
  sendSaid(wire, said) {
    if (!this.session.send(wire)) {
      this.chat.notice("Not connected, and too many lines are waiting already.", "error");
      return;
    }
    if (said === null || !said.text || this.chat.me === null) return;
    let conversation = this.chat.find("ALL");
    if (said.kind === "private") conversation = this.chat.ensure("private", said.to);
    else if (said.room) conversation = this.chat.find(said.room);
    if (conversation === null) return; // a room not joined: the server says so
    const node = this.chat.add(conversation, { kind: said.kind, from: this.chat.me, text: said.text, flags: ["own"] });
    if (node !== null && said.kind === "private") this.chat.sentPrivate(node);
  }

  command(line) {
    const [word, args] = splitWord(line);
    const name = word.slice(1).toLowerCase();
    const account = name === "register" || name === "password" || name === "unregister";
    if (!account) this.remember(line); // passwords are never kept
    const handler = COMMANDS[name];
    if (handler && handler(this, args, line) !== false) return;
    if (account) this.session.accountCommand(name, args);
    if (name === "quit" || name === "exit") {
      this.session.quit(args);
      return;
    }
    this.sendSaid(line, classify(line));
  }

  /** Put a room's name in a command typed in a room without one. */
  inRoom(command, args) {
    const room = this.chat.current;
    if (room.kind !== "room" || args.trimStart().startsWith("#")) return false;
    this.session.send(args ? `/${command} ${room.key} ${args}` : `/${command} ${room.key}`);
    return true;
  }

  openPrivate(name) {
    if (!isName(name)) {
      this.chat.notice(`${name} is not a user name: 1 to 32 characters, no spaces, '*' or ':'.`, "error");
      return;
    }
    if (this.chat.me !== null && fold(name) === fold(this.chat.me)) {
      this.chat.notice("That is you.", "error");
      return;
    }
    this.chat.open(this.chat.ensure("private", name).key);
  }

  join(room) {
    const name = room.startsWith("#") ? room : `#${room}`;
    if (!isRoom(name)) {
      this.chat.notice(`${name} is not a room name: # and 1 to 32 characters, no spaces, '*' or ','.`, "error");
      return;
    }
    const known = this.chat.find(name);
    if (known !== null && !known.left) {
      this.chat.open(known.key);
      return;
    }
    this.chat.joining.add(fold(name));
    this.session.send(`/join ${name}`);
  }
}

/** Commands done (or completed) here; false: send the line as typed. */
const COMMANDS = {
  dm: privateCommand,
  msg: privateCommand,
  query: privateCommand,
  close: (composer) => {
    const current = composer.chat.current;
    if (current.kind === "private") composer.chat.remove(current);
    else composer.chat.notice("/close closes a private conversation; /leave leaves a room.", "error");
  },
  join: (composer, args) => {
    const [room, since] = splitWord(args.trim());
    if (!room || since) return false; // the server's usage, or /join #room ID
    composer.join(room);
    return true;
  },
  leave: (composer, args) => composer.inRoom("leave", args),
  part: (composer, args) => composer.inRoom("part", args),
  topic: (composer, args) => composer.inRoom("topic", args),
  who: (composer, args) => (args.trim() ? false : composer.inRoom("who", args)),
  history: (composer, args) => {
    const current = composer.chat.current;
    if (args.trim() || current.kind === "all") return false;
    composer.session.send(`/history ${current.kind === "room" ? current.key : current.name}`);
    return true;
  },
  me: (composer) => {
    if (composer.chat.current.kind === "all") return false;
    composer.chat.notice("/me is seen by everyone: the server has actions only for ALL. Open ALL to use it.", "error");
    return true;
  },
  mode: (composer, args) => {
    if (args.trim().startsWith("#")) return false;
    composer.chat.notice(MODE_REFUSED, "error");
    return true;
  },
  since: (composer) => {
    composer.chat.notice("/since is sent by the client itself when it reconnects.", "error");
    return true;
  },
  file: (composer, args) => {
    const sub = splitWord(args.trim())[0].toLowerCase();
    if (sub !== "offer" && sub !== "chunk" && sub !== "get") return false;
    composer.chat.notice("Use the attach button, drop a file or paste one to send it; Download to receive one.", "error");
    return true;
  },
  send: (composer) => composer.pickFile(),
  accept: (composer, args) => fileId(composer, args, (id) => composer.files.accept(id, "")),
  decline: (composer, args) => fileId(composer, args, (id) => composer.files.decline(id)),
  cancel: (composer, args) => fileId(composer, args, (id) => composer.files.cancelId(id)),
  clear: (composer) => composer.chat.current.lines.replaceChildren(),
  help: (composer, args, line) => {
    const here = composer.chat.current;
    composer.session.send(line);
    composer.chat.barrier(() => composer.chat.notice(CLIENT_HELP.join("\n"), "event help", here));
  },
};

function privateCommand(composer, args) {
  const [target, text] = splitWord(args.trimStart());
  if (!target) {
    composer.chat.notice("usage: /dm NAME [TEXT]", "error");
  } else if (text) {
    composer.sendSaid(`/dm ${target} ${text}`, { kind: "private", text, to: target });
  } else {
    composer.openPrivate(target);
  }
  return true;
}

function fileId(composer, args, then) {
  const word = args.trim();
  if (!/^[0-9]{1,18}$/u.test(word)) {
    composer.chat.notice("usage: give the file's number, e.g. /accept 7", "error");
    return true;
  }
  then(Number(word));
  return true;
}
