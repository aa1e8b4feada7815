// The WebSocket to the server's /ws, and reconnection with backoff.
//
// One text message out is one line of the line protocol; one text message
// in is one JSON event.  The socket reconnects by itself after a drop,
// waiting 1 s, then twice as long each time up to 30 s, each wait drawn
// between half and all of that (jitter: a restarted server is not hit by
// every page in the same millisecond).

export const FIRST_DELAY_MS = 1000;
export const MAX_DELAY_MS = 30000;

/** The wait before reconnection attempt number `attempt` (0 first). */
export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(attempt, 16));
  return ceiling / 2 + (random() * ceiling) / 2;
}

/** The WebSocket URL of this page's server: wss: for an https: page. */
export function socketUrl(location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

/**
 * A connection that can be opened, dropped and reopened.  `handlers` has
 * open(), event(object), closed({code, reason, heard}), waiting(ms): the
 * last is called when a reconnection is scheduled.
 */
export class Connection {
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.socket = null;
    this.attempt = 0;
    this.timer = null;
    this.retryAt = 0;
    this.automatic = false; // reconnect by itself after a drop
  }

  get open() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  get connecting() {
    return this.socket !== null && this.socket.readyState === WebSocket.CONNECTING;
  }

  /** Connect now (cancelling a scheduled retry), unless already connected. */
  connect() {
    this.cancelRetry();
    if (this.socket !== null) return;
    const socket = new WebSocket(this.url);
    let heard = false;
    this.socket = socket;
    socket.addEventListener("open", () => this.handlers.open());
    socket.addEventListener("message", (message) => {
      heard = true;
      const event = parseEvent(message.data);
      if (event !== null) this.handlers.event(event);
    });
    socket.addEventListener("close", (close) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.handlers.closed({ code: close.code, reason: close.reason, heard });
      if (this.automatic) this.scheduleRetry();
    });
  }

  /** Send one line; false if there is no open connection. */
  send(line) {
    if (!this.open) return false;
    this.socket.send(line);
    return true;
  }

  /** A login succeeded: the next drop starts again from the first delay. */
  succeeded() {
    this.attempt = 0;
  }

  /** Close on purpose, without reconnecting. */
  close() {
    this.automatic = false;
    this.cancelRetry();
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) socket.close(1000);
  }

  scheduleRetry() {
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
    this.handlers.waiting(delay);
  }

  cancelRetry() {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

function parseEvent(data) {
  if (typeof data !== "string") return null;
  try {
    const event = JSON.parse(data);
    return event !== null && typeof event === "object" && typeof event.type === "string"
      ? event
      : null;
  } catch {
    return null;
  }
}
