#!/usr/bin/env python3
"""
A chat relay on nothing but CPython's standard library: a yardstick, not a
server.

One thread, one epoll loop, the standard library only, and nothing but the
work the benchmark asks for.  It speaks the shared bench's "line" protocol,
as its minimal Twisted server (ref) does: the first line is a name and is
answered "* welcome NAME"; "NAME*TEXT" goes to NAME; any other line goes to
everyone else.  No name checks, limits, history, rooms, logging, flow
control beyond keeping unsent bytes, or Twisted.

Beside the C daemons it shows how far a Python program gets on this machine
with no framework and no features; beside ref, what Twisted's machinery
costs; beside txchat, what txchat's features cost.

  python bench/bare_relay.py PORT
"""

from __future__ import annotations

import select
import socket
import sys

HOST = "127.0.0.1"
READ = select.EPOLLIN
READ_WRITE = select.EPOLLIN | select.EPOLLOUT


class Relay:
    def __init__(self, port: int) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Linux hands TCP_NODELAY on to accepted sockets.
        self.listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.listener.bind((HOST, port))
        self.listener.listen(1024)
        self.listener.setblocking(False)
        self.poll = select.epoll()
        self.poll.register(self.listener.fileno(), READ)
        self.socks: dict[int, socket.socket] = {}
        self.partial: dict[int, bytes] = {}  # an unfinished input line
        self.unsent: dict[int, bytes] = {}  # output the socket did not take
        self.name_of: dict[int, bytes] = {}
        self.fd_of: dict[bytes, int] = {}

    def run(self) -> None:
        listening = self.listener.fileno()
        while True:
            for fd, event in self.poll.poll():
                if fd == listening:
                    self.accept()
                    continue
                if event & select.EPOLLOUT:
                    self.send(fd, b"")
                if event & (READ | select.EPOLLERR | select.EPOLLHUP):
                    self.read(fd)

    def accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:  # none waiting, or out of descriptors: next event
                return
            sock.setblocking(False)
            fd = sock.fileno()
            self.socks[fd] = sock
            self.partial[fd] = b""
            self.poll.register(fd, READ)

    def read(self, fd: int) -> None:
        sock = self.socks.get(fd)
        if sock is None:
            return
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close(fd)
            return
        *lines, self.partial[fd] = (self.partial[fd] + data).split(b"\n")
        name = self.name_of.get(fd)
        for line in lines:
            line = line.rstrip(b"\r")
            if name is None:
                name = self.name_of[fd] = line
                self.fd_of[name] = fd
                self.send(fd, b"* welcome " + name + b"\r\n")
                continue
            to, star, text = line.partition(b"*")
            if star:
                target = self.fd_of.get(to)
                if target is None:
                    self.send(fd, b"ERROR: no one is called " + to + b"\r\n")
                else:
                    self.send(target, name + b"*" + text + b"\r\n")
                continue
            out = name + b": " + line + b"\r\n"
            for other in list(self.fd_of.values()):
                if other != fd:
                    self.send(other, out)

    def send(self, fd: int, data: bytes) -> None:
        """
        Send at once, keeping what the socket does not take, in order,
        until it is writable again.
        """
        sock = self.socks.get(fd)
        if sock is None:
            return
        held = self.unsent.pop(fd, b"")
        data = held + data
        if not data:
            return
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.close(fd)
            return
        if sent < len(data):
            self.unsent[fd] = data[sent:]
            if not held:
                self.poll.modify(fd, READ_WRITE)
        elif held:
            self.poll.modify(fd, READ)

    def close(self, fd: int) -> None:
        sock = self.socks.pop(fd, None)
        if sock is None:
            return
        self.poll.unregister(fd)
        sock.close()
        self.partial.pop(fd, None)
        self.unsent.pop(fd, None)
        name = self.name_of.pop(fd, None)
        if name is not None and self.fd_of.get(name) == fd:
            del self.fd_of[name]


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit(f"usage: {argv[0]} PORT")
    try:
        Relay(int(argv[1])).run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main(sys.argv)
