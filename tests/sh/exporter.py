"""Helpers of the exporter's shell tests (tests/sh/test_exporter*.sh).

- parse(): a strict parser of the Prometheus text format 0.0.4, so a test
  fails on anything Prometheus would reject or read differently (families
  interleaved, a sample before its TYPE, a bad escape, invalid UTF-8).
- get()/raw(): HTTP over loopback, raw bytes for malformed requests.
- DevTools: a minimal WebSocket client (RFC 6455, client side only) and a
  Chrome DevTools Protocol session, to drive headless Chromium.

Command line (for the shell tests):
  exporter.py get URL               body on stdout; exit 1 unless 2xx
  exporter.py value URL NAME [LABEL=VALUE...]
                                    value of the one series of NAME with
                                    those labels (exit 1 if not exactly one)
  exporter.py check URL             parse the exposition strictly; print the
                                    number of samples
"""
import base64
import json
import math
import os
import re
import socket
import struct
import sys
import time
import urllib.error
import urllib.request

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class ExpositionError(Exception):
    pass


def _label_value(line, i):
    """Parses a quoted label value at line[i] (the opening quote). Returns
    (value, index after the closing quote)."""
    if line[i] != '"':
        raise ExpositionError("label value must be quoted: " + line)
    out = []
    i += 1
    while True:
        if i >= len(line):
            raise ExpositionError("unterminated label value: " + line)
        c = line[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            if i + 1 >= len(line):
                raise ExpositionError("dangling backslash: " + line)
            e = line[i + 1]
            if e == "\\":
                out.append("\\")
            elif e == '"':
                out.append('"')
            elif e == "n":
                out.append("\n")
            else:
                raise ExpositionError("invalid escape \\%s: %s" % (e, line))
            i += 2
            continue
        out.append(c)
        i += 1


def parse(text):
    """Returns [(name, {label: value}, float)] and checks the format."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")  # raises on invalid UTF-8
    samples = []
    types = {}
    finished = set()
    current = None
    for line in text.split("\n"):
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                fam = parts[2]
                if not NAME_RE.fullmatch(fam):
                    raise ExpositionError("bad family name: " + line)
                if fam in finished or (fam in types and parts[1] == "TYPE"):
                    raise ExpositionError("family repeated or TYPE twice: " + line)
                if parts[1] == "TYPE":
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise ExpositionError("bad TYPE line: " + line)
                    types[fam] = parts[3]
                if current != fam:
                    if current is not None:
                        finished.add(current)
                    current = fam
            continue
        m = NAME_RE.match(line)
        if not m:
            raise ExpositionError("bad sample line: " + line)
        name = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            i += 1
            while line[i] != "}":
                lm = LABEL_RE.match(line, i)
                if not lm or line[lm.end()] != "=":
                    raise ExpositionError("bad label: " + line)
                key = lm.group(0)
                if key in labels:
                    raise ExpositionError("label twice: " + line)
                value, i = _label_value(line, lm.end() + 1)
                labels[key] = value
                if line[i] == ",":
                    i += 1
                elif line[i] != "}":
                    raise ExpositionError("expected , or }: " + line)
            i += 1
        rest = line[i:].split(" ")
        if rest[0] != "" or len(rest) not in (2, 3):
            raise ExpositionError("bad value part: " + line)
        value = float(rest[1])
        fam = name
        for suffix in ("_total", "_bucket", "_count", "_sum", "_created"):
            if name.endswith(suffix) and name[: -len(suffix)] in types:
                fam = name[: -len(suffix)]
        if fam != current or fam in finished:
            raise ExpositionError("sample outside its family block (no TYPE first?): " + line)
        if fam not in types:
            raise ExpositionError("sample without TYPE: " + line)
        if math.isnan(value):
            raise ExpositionError("NaN: " + line)
        samples.append((name, labels, value))
    return samples


def series_key(name, labels):
    return name + ("{" + ",".join('%s="%s"' % kv for kv in sorted(labels.items())) + "}"
                   if labels else "")


def get(url, timeout=10):
    """(status, headers, body bytes); HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def raw(port, data, timeout=10):
    """Sends DATA on a fresh connection, half-closes, returns all bytes
    answered before the server closed."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close before reading everything
        chunks = []
        while True:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            chunks.append(d)
        return b"".join(chunks)
    finally:
        s.close()


def status_of(answer):
    """The status code of an HTTP answer, or None when nothing came back."""
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
    return int(m.group(1)) if m else None


# ---- WebSocket (client side, RFC 6455) and the DevTools protocol ----------

class WebSocket:
    def __init__(self, url, timeout=30):
        m = re.match(r"ws://([^/:]+):(\d+)(/.*)", url)
        if not m:
            raise ValueError("not a ws:// URL: " + url)
        host, port, path = m.group(1), int(m.group(2)), m.group(3)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            d = self.sock.recv(1)
            if not d:
                raise ConnectionError("WebSocket handshake: connection closed")
            head += d
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError("WebSocket handshake refused: %r" % head[:100])
        self.buf = b""

    def send(self, text):
        payload = text.encode()
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _read(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(1 << 20)
            if not d:
                raise ConnectionError("WebSocket closed")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        message = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            data = self._read(n)  # server frames are not masked
            opcode = b0 & 0x0F
            if opcode == 8:
                raise ConnectionError("WebSocket closed by the browser")
            if opcode in (9, 10):  # ping/pong: ignore
                continue
            message += data
            if b0 & 0x80:
                return message.decode()

    def close(self):
        self.sock.close()


class DevTools:
    """One page target of a Chromium started with --remote-debugging-port."""

    def __init__(self, port, timeout=30):
        deadline = time.time() + timeout
        targets = None
        while time.time() < deadline:
            try:
                _, _, body = get("http://127.0.0.1:%d/json/list" % port, timeout=2)
                targets = [t for t in json.loads(body) if t.get("type") == "page"]
                if targets:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        if not targets:
            raise ConnectionError("no DevTools page target on port %d" % port)
        self.ws = WebSocket(targets[0]["webSocketDebuggerUrl"], timeout)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            self.events.append(msg)

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (JSON-able)."""
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError("JavaScript error: %s" % r["exceptionDetails"])
        return r["result"].get("value")

    def wait_for(self, expression, timeout=30):
        """Polls until EXPRESSION is truthy; returns its value or None. A
        JavaScript error (the page still loading) counts as not yet."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                v = self.evaluate(expression)
            except RuntimeError:
                v = None
            if v:
                return v
            time.sleep(0.1)
        return None


def main(argv):
    if len(argv) >= 2 and argv[0] == "get":
        status, _, body = get(argv[1])
        sys.stdout.buffer.write(body)
        return 0 if 200 <= status < 300 else 1
    if len(argv) >= 3 and argv[0] == "value":
        _, _, body = get(argv[1])
        want = dict(kv.split("=", 1) for kv in argv[3:])
        found = [v for n, labels, v in parse(body)
                 if n == argv[2] and all(labels.get(k) == v for k, v in want.items())]
        if len(found) != 1:
            return 1
        print("%d" % found[0] if found[0] == int(found[0]) else repr(found[0]))
        return 0
    if len(argv) >= 2 and argv[0] == "check":
        status, headers, body = get(argv[1])
        if status != 200:
            print("status %d" % status)
            return 1
        print(len(parse(body)))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
