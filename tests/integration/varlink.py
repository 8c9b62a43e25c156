"""A minimal, independent Varlink client (stdlib only): JSON messages terminated
by NUL over AF_UNIX. Deliberately shares no code with standingctl."""
import json
import socket


class VarlinkError(Exception):
    def __init__(self, error, parameters):
        super().__init__(f"{error} {parameters}")
        self.error = error
        self.parameters = parameters


class Connection:
    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def send(self, obj):
        self.send_raw(json.dumps(obj).encode() + b"\0")

    def recv_bytes(self):
        """The next message's bytes as they came, or None when the peer closed."""
        while b"\0" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                return None
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return msg

    def recv(self):
        """The next message as a dict, or None when the peer closed."""
        msg = self.recv_bytes()
        return None if msg is None else json.loads(msg)

    def call(self, method, parameters=None, more=False):
        """One call; returns the parameters (a list of them with more=True);
        raises VarlinkError on an error reply."""
        msg = {"method": method, "parameters": parameters or {}}
        if more:
            msg["more"] = True
        self.send(msg)
        replies = []
        while True:
            r = self.recv()
            if r is None:
                raise ConnectionError("connection closed")
            if "error" in r:
                raise VarlinkError(r["error"], r.get("parameters", {}))
            replies.append(r.get("parameters", {}))
            if not (more and r.get("continues")):
                return replies if more else replies[0]
