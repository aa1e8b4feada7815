// Files over the web door's HTTP API: an upload is offered over the
// WebSocket (/file offer TARGET SIZE SHA256 NAME, the SHA-256 computed
// here chunk by chunk), then PUT to /files/ID with the session's token;
// an incoming offer is accepted by letting the browser download
// /files/ID?token=..., or declined with /file decline ID.

import { Sha256 } from "./sha256.js";
import { element, formatSize } from "./render.js";

/** Bytes read (and hashed) at a time. */
const SLICE = 1 << 20;
/** Errors that answer a /file offer (they carry no id yet). */
const OFFER_ERRORS = new Set([
  "file-too-large",
  "quota-exceeded",
  "no-such-user",
  "not-in-room",
  "no-recipients",
  "throttled",
  "usage",
  "invalid-name",
  "bad-input",
]);
/** Retries of a PUT the server answered with another offset (409). */
const OFFSET_RETRIES = 3;
/** Seconds a finished transfer stays listed. */
const DONE_LINGER_MS = 8000;

export class Files {
  /** send(line): to the server; chat: the conversations; list: #transfers. */
  constructor(send, chat, list) {
    this.send = send;
    this.chat = chat;
    this.list = list;
    this.token = null;
    this.path = "/files/";
    this.offering = []; // uploads whose /file offer is unanswered, in order
    this.uploads = new Map(); // id -> upload
  }

  /** Handle a file event; true if it was one. */
  intercept(e) {
    switch (e.type) {
      case "web-files":
        this.token = typeof e.token === "string" ? e.token : null;
        if (typeof e.path === "string" && e.path.startsWith("/")) this.path = e.path;
        this.resumeUploads();
        return true;
      case "file-upload":
        this.uploadGranted(e);
        return true;
      case "file-ack":
        return true;
      case "file-sent":
        this.uploadSent(e);
        return true;
      case "file-offer":
        this.offered(e);
        return true;
      case "file-delivered":
      case "file-declined":
        this.chat.notice(e.text, "event", this.targetConversation(e.to), e.time);
        return true;
      case "error":
        return this.errorFor(e);
      default:
        return false;
    }
  }

  /** The WebSocket closed: its token is dead, transfers in flight stop. */
  detach() {
    this.token = null;
    for (const upload of this.offering.splice(0)) this.fail(upload, "The connection was lost before the server answered.");
    for (const upload of this.uploads.values()) {
      if (upload.request) upload.request.abort();
      upload.request = null;
      if (upload.state === "uploading") this.status(upload, "Connection lost; resuming after the reconnection…");
    }
  }

  // Sending.

  /** Send `file` to a conversation (a room or a person). */
  async offer(file, conversation) {
    if (conversation.kind === "all") {
      this.chat.notice("Files go to a room or a person: open that conversation first.", "error");
      return;
    }
    const target = conversation.kind === "room" ? conversation.key : conversation.name;
    const upload = this.addTransfer(file, target, conversation);
    this.status(upload, "Computing the checksum…");
    let digest;
    try {
      digest = await hashFile(file, (done) => this.progress(upload, done, "Checksum"));
    } catch (error) {
      this.fail(upload, `Could not read the file: ${error.message}`);
      return;
    }
    if (upload.state === "cancelled") return;
    upload.state = "offering";
    this.status(upload, "Waiting for the server…");
    this.offering.push(upload);
    this.send(`/file offer ${target} ${file.size} ${digest} ${fileName(file)}`);
  }

  uploadGranted(e) {
    const known = this.uploads.get(e.id);
    const upload = known || this.offering.shift();
    if (!upload) return;
    upload.id = e.id;
    this.uploads.set(e.id, upload);
    upload.row.dataset.fileId = String(e.id);
    if (upload.state === "cancelled") {
      this.send(`/file cancel ${e.id}`);
      return;
    }
    this.put(upload, Number(e.offset) || 0);
  }

  put(upload, offset) {
    if (this.token === null) {
      this.fail(upload, "File transfers are not available on this server.");
      return;
    }
    upload.state = "uploading";
    const request = new XMLHttpRequest();
    upload.request = request;
    upload.rate = new Rate();
    upload.started = performance.now();
    upload.from = offset;
    request.open("PUT", `${this.path}${upload.id}?offset=${offset}`);
    request.setRequestHeader("Authorization", `Bearer ${this.token}`);
    request.upload.addEventListener("progress", (p) => this.progress(upload, offset + p.loaded, "Sending"));
    request.addEventListener("load", () => this.putAnswered(upload, request));
    request.addEventListener("error", () => {
      if (upload.request === request) this.status(upload, "Interrupted; resuming after the reconnection…");
    });
    request.send(upload.file.slice(offset));
  }

  putAnswered(upload, request) {
    upload.request = null;
    if (request.status === 204 || request.status === 200) {
      upload.bar.value = upload.file.size;
      const seconds = Math.max(0.001, (performance.now() - upload.started) / 1000);
      const sent = upload.file.size - upload.from;
      upload.rateLabel.textContent = `Sent ${formatSize(sent)} in ${seconds.toFixed(1)} s · ${formatSize(Math.round(sent / seconds))}/s`;
      upload.state = "checking";
      this.status(upload, "Sent; the server checks it…");
      return;
    }
    const answer = parseJson(request.responseText);
    if (request.status === 409 && Number.isSafeInteger(answer.offset) && upload.retries < OFFSET_RETRIES) {
      upload.retries += 1;
      this.put(upload, answer.offset);
      return;
    }
    this.fail(upload, answer.text || `The server refused the upload (HTTP ${request.status}).`);
  }

  uploadSent(e) {
    const upload = this.uploads.get(e.id);
    const name = upload ? upload.file.name : e.name;
    const stored = e.stored ? " (kept for those offline)" : "";
    const conversation = upload ? upload.conversation : this.targetConversation(e.to);
    this.chat.notice(`You sent ${name}${stored}.`, "event", conversation, e.time);
    if (upload) this.finish(upload, "Sent.");
  }

  /** After a reconnection: a registered user's uploads go on where they were. */
  resumeUploads() {
    for (const upload of this.uploads.values()) {
      if (upload.state !== "uploading") continue;
      if (this.chat.registered) this.send(`/file resume ${upload.id}`);
      else this.fail(upload, "The connection was lost; a guest's unfinished uploads end with it. Send it again.");
    }
  }

  cancel(upload) {
    const state = upload.state;
    upload.state = "cancelled";
    if (upload.request) upload.request.abort();
    if (upload.id !== null && state !== "done") this.send(`/file cancel ${upload.id}`);
    this.finish(upload, "Cancelled.");
  }

  /** /cancel ID typed. */
  cancelId(id) {
    const upload = this.uploads.get(id);
    if (upload) this.cancel(upload);
    else this.send(`/file cancel ${id}`);
  }

  // The list of transfers.

  addTransfer(file, target, conversation) {
    const row = element("div", "transfer");
    row.setAttribute("role", "group");
    row.setAttribute("aria-label", `Sending ${file.name}`);
    const title = element("span", "transfer-name", `${file.name} → ${target} (${formatSize(file.size)})`);
    const bar = element("progress");
    bar.max = Math.max(1, file.size);
    bar.value = 0;
    const rate = element("span", "rate", "");
    const status = element("span", "transfer-status", "");
    status.setAttribute("role", "status");
    const cancel = element("button", "cancel", "Cancel");
    cancel.type = "button";
    row.append(title, bar, rate, status, cancel);
    this.list.append(row);
    const upload = { file, target, conversation, row, bar, rate: null, rateLabel: rate, statusLabel: status, id: null, state: "hashing", request: null, retries: 0, started: 0, from: 0 };
    cancel.addEventListener("click", () => this.cancel(upload));
    return upload;
  }

  progress(upload, done, what) {
    upload.bar.value = done;
    const percent = upload.file.size > 0 ? Math.floor((100 * done) / upload.file.size) : 100;
    upload.bar.textContent = `${percent}%`;
    if (upload.rate === null) upload.rate = new Rate();
    const perSecond = upload.rate.add(done);
    upload.rateLabel.textContent = `${what} ${percent}% · ${formatSize(Math.round(perSecond))}/s`;
  }

  status(upload, text) {
    upload.statusLabel.textContent = text;
  }

  fail(upload, text) {
    upload.state = "failed";
    upload.row.classList.add("failed");
    this.status(upload, text);
    this.chat.notice(`${upload.file.name} was not sent: ${text}`, "error", upload.conversation);
    this.linger(upload);
  }

  finish(upload, text) {
    if (upload.state !== "cancelled") upload.state = "done";
    upload.row.classList.add("done");
    this.status(upload, text);
    this.linger(upload);
  }

  linger(upload) {
    const button = upload.row.querySelector("button.cancel");
    button.textContent = "Dismiss";
    button.onclick = () => this.dismiss(upload);
    setTimeout(() => this.dismiss(upload), DONE_LINGER_MS);
  }

  dismiss(upload) {
    upload.row.remove();
    if (upload.id !== null) this.uploads.delete(upload.id);
  }

  errorFor(e) {
    if (e.id !== undefined && this.uploads.has(e.id)) {
      this.fail(this.uploads.get(e.id), String(e.text || e.code));
      return true;
    }
    if (e.id === undefined && this.offering.length > 0 && OFFER_ERRORS.has(e.code)) {
      this.fail(this.offering.shift(), String(e.text || e.code));
      return true;
    }
    return false;
  }

  // Receiving.

  offered(e) {
    if (document.querySelector(`.file-offer[data-file-id="${CSS.escape(String(e.id))}"]`)) return;
    const conversation = e.room ? this.chat.ensure("room", String(e.room)) : this.chat.ensure("private", String(e.from));
    const size = Number(e.size) || 0;
    const text = `offers ${e.name} (${formatSize(size)})`;
    const node = this.chat.add(conversation, { kind: "event", from: e.from, text, time: e.time, flags: ["file-offer"] });
    if (node === null) return;
    node.dataset.fileId = String(e.id);
    const accept = element("button", "accept", "Download");
    const decline = element("button", "decline", "Decline");
    accept.type = decline.type = "button";
    accept.setAttribute("aria-label", `Download ${e.name}`);
    decline.setAttribute("aria-label", `Decline ${e.name}`);
    accept.addEventListener("click", () => this.accept(e.id, String(e.name), node));
    decline.addEventListener("click", () => this.decline(e.id, node));
    const actions = element("span", "offer-actions");
    actions.append(accept, decline);
    node.append(actions);
  }

  /** Let the browser save the file (Range lets it resume). */
  accept(id, name, node = this.offerNode(id)) {
    if (this.token === null) {
      this.chat.notice("Not connected: the download starts once the connection is back.", "error");
      return;
    }
    const link = document.createElement("a");
    link.href = `${this.path}${encodeURIComponent(id)}?token=${encodeURIComponent(this.token)}`;
    link.download = name || "";
    link.rel = "noopener";
    document.body.append(link);
    link.click();
    link.remove();
    if (node) this.settle(node, "Downloading: your browser saves it.");
  }

  decline(id, node = this.offerNode(id)) {
    this.send(`/file decline ${id}`);
    if (node) this.settle(node, "Declined.");
  }

  offerNode(id) {
    return document.querySelector(`.file-offer[data-file-id="${CSS.escape(String(id))}"]`);
  }

  settle(node, text) {
    const status = node.querySelector(".offer-status") || element("span", "offer-status");
    status.textContent = text;
    node.append(status);
    for (const button of node.querySelectorAll("button.decline")) button.disabled = true;
  }

  targetConversation(to) {
    if (typeof to !== "string" || !to) return this.chat.current;
    return to.startsWith("#") ? this.chat.ensure("room", to) : this.chat.ensure("private", to);
  }
}

/** The SHA-256 of a File, read a slice at a time. */
export async function hashFile(file, progress) {
  const hash = new Sha256();
  for (let at = 0; at < file.size; at += SLICE) {
    const bytes = new Uint8Array(await file.slice(at, at + SLICE).arrayBuffer());
    hash.update(bytes);
    progress(Math.min(file.size, at + SLICE));
  }
  progress(file.size);
  return hash.hexDigest();
}

/** A name the server takes: printable, at most 255 characters. */
export function fileName(file) {
  const clean = [...String(file.name || "").replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/gu, "_")]
    .slice(0, 255)
    .join("")
    .trim();
  return clean || "file";
}

/** Bytes per second over the last few seconds. */
class Rate {
  constructor() {
    this.samples = [];
  }

  add(total) {
    const now = performance.now();
    this.samples.push([now, total]);
    while (this.samples.length > 2 && now - this.samples[0][0] > 3000) this.samples.shift();
    const [then, before] = this.samples[0];
    return now > then ? ((total - before) * 1000) / (now - then) : 0;
  }
}

function parseJson(text) {
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" ? value : {};
  } catch {
    return {};
  }
}
