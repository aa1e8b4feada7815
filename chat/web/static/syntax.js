// What a typed line means, read as the server reads it
// (chat/lines/syntax.py), and how names compare.  Used to show the user's
// own messages (the server does not echo them) in the right conversation.

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/u;

/** A name as the server compares names (near enough: NFKC, lower case). */
export function fold(name) {
  return String(name).normalize("NFKC").toLowerCase();
}

/** Whether `word` can be a user name (the server checks the rest). */
export function isName(word) {
  const length = [...word].length;
  return (
    length >= 1 &&
    length <= 32 &&
    !/[\s*:]/u.test(word) &&
    !CONTROL.test(word) &&
    !word.startsWith("/") &&
    !word.startsWith("#")
  );
}

/** Whether `word` can be a room name (#, then 1 to 32 characters). */
export function isRoom(word) {
  const rest = [...word.slice(1)];
  return (
    word.startsWith("#") &&
    rest.length >= 1 &&
    rest.length <= 32 &&
    !/[\s*,]/u.test(word) &&
    !CONTROL.test(word)
  );
}

/**
 * The message a line sends, or null for commands that send none:
 * {kind: "message"|"private"|"action", text, to (a name), room, explicit
 * (addressed by a NAME*, #room* or ALL* prefix)}.
 */
export function classify(line) {
  if (line.startsWith("/")) return classifyCommand(line);
  const star = line.indexOf("*");
  if (star > 0) {
    const target = line.slice(0, star);
    const text = line.slice(star + 1);
    if (target.startsWith("#") && isRoom(target)) {
      return { kind: "message", text, room: target, explicit: true };
    }
    if (isName(target)) {
      if (fold(target) === "all") return { kind: "message", text, explicit: true };
      return { kind: "private", text, to: target, explicit: true };
    }
  }
  return { kind: "message", text: line };
}

function classifyCommand(line) {
  const space = line.indexOf(" ");
  const name = (space < 0 ? line.slice(1) : line.slice(1, space)).toLowerCase();
  const args = space < 0 ? "" : line.slice(space + 1);
  if (name === "dm" || name === "msg") {
    const [target, text] = splitWord(args.trimStart());
    return text ? { kind: "private", text, to: target } : null;
  }
  if ((name === "bm" || name === "me") && args) {
    return { kind: name === "me" ? "action" : "message", text: args };
  }
  if (name === "say") {
    const [room, text] = splitWord(args.trimStart());
    return isRoom(room) && text ? { kind: "message", text, room } : null;
  }
  return null;
}

/** The first word and the rest after one space. */
export function splitWord(text) {
  const space = text.indexOf(" ");
  return space < 0 ? [text, ""] : [text.slice(0, space), text.slice(space + 1)];
}
