"""A real mail lab for the tests: Debian's Dovecot (IMAP, with IDLE) and an aiosmtpd SMTP server
that stores what it receives, both on free loopback ports, under one temporary directory.

Usage: target/test-deps/py/bin/python tests/mail/mail_lab.py [--no-idle] DIR

--no-idle: the IMAP server does not offer IDLE (clients must poll).

When both servers listen, one JSON line is printed:
  {"imap_port": N, "smtp_port": M, "user": "...", "password": "...", "address": "...",
   "dir": "...", "smtp_dir": "..."}
Then one command per line on stdin, each answered by one line ("ok ..." or "error ..."):
  deliver FOLDER PATH       IMAP APPEND of the file PATH to FOLDER      -> ok UID
  imap stop | imap start    stop or start Dovecot (same port)           -> ok
  smtp stop | smtp start    stop or start the SMTP server (same port)   -> ok
  smtp refuse [TEXT]        refuse (550) every recipient containing TEXT; no TEXT: refuse none
  received                  what the SMTP server took                   -> ok [{"file","mail_from","rcpt_tos","message_id"}...]
End of input (the test ended, or died) stops both servers and exits. Dovecot is also told to stop
by the kernel if this process dies (PR_SET_PDEATHSIG), so nothing is left running.
"""

import asyncio
import ctypes
import email
import imaplib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER = "lead@example.test"
PASSWORD = "lab-password"
MAIL_USER = "nobody"  # Dovecot refuses mail uid 0: the mailbox belongs to an unprivileged user.


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def die_with_parent():
    # PR_SET_PDEATHSIG = 1: the child gets SIGTERM when this process dies, even by kill -9.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


# What Dovecot 2.3 offers after login, less IDLE: for --no-idle.
CAPABILITIES_WITHOUT_IDLE = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT SORT=DISPLAY THREAD=REFERENCES "
    "THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN "
    "NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES "
    "WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW "
    "STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE"
)


class Dovecot:
    def __init__(self, root, idle=True):
        self.root = root
        self.idle = idle
        self.port = free_port()
        self.proc = None
        pw = pwd.getpwnam(MAIL_USER)
        home = os.path.join(root, "home")
        for d in (root, home):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        maildir_home = os.path.join(home, "lead")
        os.makedirs(maildir_home, exist_ok=True)
        os.chown(maildir_home, pw.pw_uid, pw.pw_gid)
        os.makedirs(os.path.join(root, "run"), exist_ok=True)
        with open(os.path.join(root, "passwd"), "w") as f:
            f.write(f"{USER}:{{PLAIN}}{PASSWORD}:{pw.pw_uid}:{pw.pw_gid}::{maildir_home}::\n")
        self.conf = os.path.join(root, "dovecot.conf")
        self.write_conf()

    def write_conf(self):
        r = self.root
        with open(self.conf, "w") as f:
            f.write(f"""
base_dir = {r}/run
state_dir = {r}/state
log_path = {r}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:~/Maildir
first_valid_uid = 1
{"" if self.idle else "imap_capability = " + CAPABILITIES_WITHOUT_IDLE}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {r}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {r}/passwd
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Handled {{
    auto = subscribe
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
""")

    def start(self):
        if self.proc and self.proc.poll() is None:
            return
        self.proc = subprocess.Popen(
            ["dovecot", "-F", "-c", self.conf],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.root, "dovecot.stderr"), "ab"),
            preexec_fn=die_with_parent,
        )
        if not wait_port(self.port):
            raise RuntimeError("Dovecot did not listen: " + self.log_tail())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        # The port is free again once the listener is gone.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    time.sleep(0.05)
            except OSError:
                break

    def log_tail(self):
        out = []
        for name in ("dovecot.log", "dovecot.stderr"):
            try:
                with open(os.path.join(self.root, name), errors="replace") as f:
                    out.append(f.read()[-2000:])
            except OSError:
                pass
        return "\n".join(out)

    def deliver(self, folder, path):
        with open(path, "rb") as f:
            raw = f.read()
        imap = imaplib.IMAP4("127.0.0.1", self.port)
        try:
            imap.login(USER, PASSWORD)
            typ, data = imap.append(folder, None, None, raw)
            if typ != "OK":
                raise RuntimeError(f"APPEND refused: {data!r}")
            # APPENDUID (RFC 4315): [APPENDUID <uidvalidity> <uid>]
            text = data[0].decode(errors="replace") if data and data[0] else ""
            uid = text.split("APPENDUID", 1)[1].split()[1].rstrip("]") if "APPENDUID" in text else "?"
            return uid
        finally:
            try:
                imap.logout()
            except Exception:
                pass


class Store:
    """The SMTP handler: every accepted message as NNNN.eml with its envelope in NNNN.json."""

    def __init__(self, root):
        self.root = root
        self.refuse = None
        self.count = 0
        self.lock = threading.Lock()
        os.makedirs(root, exist_ok=True)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refuse = self.refuse
        if refuse and refuse in address:
            return "550 5.1.1 <%s>: recipient refused by the lab" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        base = os.path.join(self.root, "%04d" % n)
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode()
        msg = email.message_from_bytes(data)
        meta = {
            "file": base + ".eml",
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "message_id": (msg.get("Message-ID") or "").strip(),
        }
        # The message first, then its envelope: a reader that sees the .json sees both.
        with open(base + ".eml", "wb") as f:
            f.write(data)
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.replace(base + ".json.tmp", base + ".json")
        return "250 Message accepted for delivery"

    def received(self):
        out = []
        for name in sorted(os.listdir(self.root)):
            if name.endswith(".json"):
                with open(os.path.join(self.root, name)) as f:
                    out.append(json.load(f))
        return out


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER \
        and auth_data.password.decode() == PASSWORD
    # handled=False: aiosmtpd answers the refusal itself (535); True would leave it unanswered.
    return AuthResult(success=ok, handled=False)


class Smtp:
    def __init__(self, store):
        self.store = store
        self.port = free_port()
        self.controller = None

    def start(self):
        if self.controller:
            return
        self.controller = Controller(
            self.store,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticator,
            auth_require_tls=False,
            auth_required=False,
        )
        self.controller.start()

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None


def main():
    args = sys.argv[1:]
    idle = "--no-idle" not in args
    args = [a for a in args if a != "--no-idle"]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    root = os.path.abspath(args[0])
    # Dovecot's own users (auth, the mail user) must reach the passwd file and the mailbox
    # under here: a 0700 temporary directory would refuse every login.
    os.makedirs(root, exist_ok=True)
    os.chmod(root, 0o755)
    dovecot = Dovecot(os.path.join(root, "dovecot"), idle=idle)
    store = Store(os.path.join(root, "smtp"))
    smtp = Smtp(store)

    def shutdown(*_):
        smtp.stop()
        dovecot.stop()
        os._exit(0)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    try:
        dovecot.start()
        smtp.start()
    except Exception as e:  # noqa: BLE001 - the test reads why
        print(json.dumps({"error": str(e)}), flush=True)
        shutdown()
    print(json.dumps({
        "imap_port": dovecot.port,
        "smtp_port": smtp.port,
        "user": USER,
        "password": PASSWORD,
        "address": USER,
        "dir": root,
        "smtp_dir": store.root,
    }), flush=True)

    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            cmd = words[0]
            if cmd == "deliver" and len(words) == 3:
                reply = "ok " + dovecot.deliver(words[1], words[2])
            elif cmd == "imap" and words[1:] == ["stop"]:
                dovecot.stop()
                reply = "ok"
            elif cmd == "imap" and words[1:] == ["start"]:
                dovecot.start()
                reply = "ok"
            elif cmd == "smtp" and words[1:] == ["stop"]:
                smtp.stop()
                reply = "ok"
            elif cmd == "smtp" and words[1:] == ["start"]:
                smtp.start()
                reply = "ok"
            elif cmd == "smtp" and len(words) >= 2 and words[1] == "refuse":
                store.refuse = words[2] if len(words) > 2 else None
                reply = "ok"
            elif cmd == "received":
                reply = "ok " + json.dumps(store.received())
            else:
                reply = "error unknown command: " + line.strip()
        except Exception as e:  # noqa: BLE001 - one bad command does not end the lab
            reply = "error " + str(e).replace("\n", " ")
        print(reply, flush=True)
    shutdown()


if __name__ == "__main__":
    main()
