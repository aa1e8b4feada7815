// Telling the user about what they have not seen: the unread count in the
// page's title, and desktop notifications for mentions and private
// messages while the tab is hidden (permission asked on a click only).

const TITLE = "txchat";

export class Notifier {
  constructor(onOpen) {
    this.onOpen = onOpen; // called with a conversation key when clicked
    this.supported = typeof window.Notification === "function";
  }

  /** "(3) txchat" while 3 lines are unread. */
  setUnread(count) {
    document.title = count > 0 ? `(${count}) ${TITLE}` : TITLE;
  }

  /** Whether asking makes sense (never asked yet). */
  canAsk() {
    return this.supported && Notification.permission === "default";
  }

  /** Ask for permission; call from a click or a key press only. */
  async ask() {
    if (!this.canAsk()) return this.supported ? Notification.permission : "unsupported";
    try {
      return await Notification.requestPermission();
    } catch {
      return "denied";
    }
  }

  /** A notification for a line, if the tab is hidden and it is allowed. */
  notify(conversation, line) {
    if (!document.hidden || !this.supported || Notification.permission !== "granted") return;
    const where = conversation.kind === "private" ? "private message" : conversation.key;
    const title = line.from ? `${line.from} (${where})` : where;
    try {
      const note = new Notification(title, { body: String(line.text).slice(0, 200), tag: conversation.key });
      note.addEventListener("click", () => {
        window.focus();
        this.onOpen(conversation.key);
        note.close();
      });
    } catch {
      // Some browsers allow notifications from service workers only.
    }
  }
}
