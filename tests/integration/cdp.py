"""cdp: headless Chromium driven through its DevTools protocol, standard
library only (a WebSocket client of its own: no python3-websocket needed).

    with Browser(width=1440, height=1000) as b:
        page = b.new_page()
        page.goto("http://127.0.0.1:8080/")
        page.wait("document.querySelectorAll('tr').length > 2")
        page.click("button.clearance")
        page.screenshot("shot.png")
        assert not page.errors  # console errors, exceptions, failed loads

Chromium comes from $CHROMIUM, else `chromium` on PATH (Debian package
`chromium`). Every wait has a timeout; the browser is killed on exit."""
import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time


class CDPError(Exception):
    pass


class _WebSocket:
    """Just enough of RFC 6455 for the DevTools protocol: text frames,
    client-masked, fragmented replies joined, pings answered."""

    def __init__(self, host, port, path, timeout=30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise CDPError("websocket handshake: connection closed")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise CDPError("websocket handshake refused: %r" % head[:200])

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise CDPError("websocket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_frame(self, opcode, data):
        head = bytes([0x80 | opcode])
        n = len(data)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(head + mask + body)

    def send(self, text):
        self._send_frame(0x1, text.encode())

    def recv(self):
        parts = []
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if opcode == 0x9:
                self._send_frame(0xA, data)
                continue
            if opcode == 0x8:
                raise CDPError("websocket closed by the browser")
            if opcode in (0x0, 0x1, 0x2):
                parts.append(data)
                if b0 & 0x80:
                    return b"".join(parts).decode()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Page:
    def __init__(self, browser, session):
        self.b, self.session = browser, session
        self.errors = []  # console errors, uncaught exceptions, failed loads

    def send(self, method, **params):
        return self.b.send(method, params, self.session)

    def _event(self, msg):
        m, p = msg["method"], msg.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.errors.append("console.%s: %s" % (p["type"], " ".join(
                str(a.get("value", a.get("description", ""))) for a in p.get("args", []))))
        elif m == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            self.errors.append("exception: %s" % d.get("exception", {}).get("description", d.get("text")))
        elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
            e = p["entry"]
            self.errors.append("log: %s %s" % (e.get("text"), e.get("url", "")))

    def goto(self, url, timeout=30):
        self.send("Page.navigate", url=url)
        self.wait("document.readyState === 'complete'", timeout)

    def eval(self, expr):
        r = self.send("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise CDPError("evaluate %s: %s" % (expr[:80], r["exceptionDetails"].get("text")))
        return r["result"].get("value")

    def wait(self, expr, timeout=30, what=None):
        deadline = time.monotonic() + timeout
        while True:
            v = self.eval(expr)
            if v:
                return v
            if time.monotonic() > deadline:
                raise CDPError("timed out after %ss waiting for %s" % (timeout, what or expr))
            time.sleep(0.2)

    def click(self, selector, timeout=10):
        """A real mouse click (moved, pressed, released) at the middle of
        the first element matching selector, scrolled into view."""
        js = ("(() => { const e = document.querySelector(%s); if (!e) return null;"
              " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
              " return r.width > 0 ? [r.x + r.width / 2, r.y + r.height / 2] : null; })()"
              % json.dumps(selector))
        x, y = self.wait(js, timeout, "a visible " + selector)
        self.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        self.send("Input.dispatchMouseEvent", type="mousePressed", x=x, y=y, button="left",
                  clickCount=1)
        self.send("Input.dispatchMouseEvent", type="mouseReleased", x=x, y=y, button="left",
                  clickCount=1)

    def type(self, text):
        """Types text into the focused element, as a keyboard would."""
        self.send("Input.insertText", text=text)

    def screenshot(self, path, full=True):
        r = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=full)
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))
        return path


class Browser:
    def __init__(self, width=1440, height=1000, timeout=30):
        self.width, self.height, self.timeout = width, height, timeout
        self.dir = tempfile.mkdtemp(prefix="stockflow-chromium-")
        exe = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
        if not exe:
            raise CDPError("chromium not found (Debian package chromium; or set CHROMIUM)")
        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--mute-audio", "--hide-scrollbars",
             "--remote-debugging-port=0", "--user-data-dir=" + self.dir,
             "--window-size=%d,%d" % (width, height), "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, "chromium.log"), "wb"))
        port_file = os.path.join(self.dir, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        while not (os.path.exists(port_file) and len(open(port_file).read().split("\n")) >= 2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise CDPError("chromium did not start (see its log)")
            time.sleep(0.1)
        port, path = open(port_file).read().split("\n")[:2]
        self.ws = _WebSocket("127.0.0.1", int(port), path, timeout)
        self.next_id, self.pages = 0, {}

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        while True:
            r = json.loads(self.ws.recv())
            if "id" not in r:
                page = self.pages.get(r.get("sessionId"))
                if page:
                    page._event(r)
                continue
            if r["id"] == self.next_id:
                if "error" in r:
                    raise CDPError("%s: %s" % (method, r["error"].get("message")))
                return r.get("result", {})

    def new_page(self):
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        self.pages[session] = page
        for domain in ("Page", "Runtime", "Log"):
            page.send(domain + ".enable")
        page.send("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                  deviceScaleFactor=1, mobile=False)
        return page

    def close(self):
        if getattr(self, "ws", None):
            self.ws.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
