#!/usr/bin/env python3
"""The shop's `billing` module in Python (standard library only).

Written from docs/wire-protocol.md, the published contracts (modules/*/api/contract.json), the
module's page (docs/modules/billing.md) and the shop's OpenAPI document. It takes the place of
the Rust billing: the Rust processes are started with `--remote billing=<internal URL>`.
See README.md beside this file for the configuration and what of the protocol it implements.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import signal
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

MODULE = "billing"
MODULE_NAME = re.compile(r"[a-z0-9_]{1,64}\Z")
CONTRACT_HEADER = re.compile(r"([^/]*)/([0-9]+)\.([0-9]+)\Z")
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})\Z")
I64 = (-(2**63), 2**63 - 1)
U32 = (0, 2**32 - 1)
SCHEMA = """
CREATE TABLE IF NOT EXISTS billing_invoices (
    id TEXT PRIMARY KEY, order_id TEXT NOT NULL, customer TEXT NOT NULL,
    amount_cents INTEGER NOT NULL, created_at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS billing_invoices_order ON billing_invoices (order_id);
CREATE TABLE IF NOT EXISTS billing_payments (
    id TEXT PRIMARY KEY, invoice_id TEXT NOT NULL REFERENCES billing_invoices (id),
    amount_cents INTEGER NOT NULL, captured_at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS billing_payments_invoice ON billing_payments (invoice_id);
CREATE TABLE IF NOT EXISTS billing_inbox (
    subscriber TEXT NOT NULL, event_id TEXT NOT NULL, name TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL, PRIMARY KEY (subscriber, event_id));
CREATE TABLE IF NOT EXISTS billing_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, subscriber TEXT NOT NULL,
    envelope TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
    tries INTEGER NOT NULL DEFAULT 0, refusals INTEGER NOT NULL DEFAULT 0,
    due_at_ms INTEGER NOT NULL, last_error TEXT, delivered_at_ms INTEGER,
    UNIQUE (event_id, subscriber));
CREATE INDEX IF NOT EXISTS billing_outbox_due ON billing_outbox (state, due_at_ms);
"""


def now_ms():
    return time.time_ns() // 1_000_000


def log(message):
    print(f"billing: {message}", file=sys.stderr, flush=True)


def rfc3339(ms):
    moment = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def uuid7():
    """A UUID version 7 (time-ordered), lowercase hyphenated, as the protocol recommends."""
    value = (now_ms() & (2**48 - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def as_uuid(value):
    """The lowercase hyphenated form of a UUID in any spelling Rust accepts, or None."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def as_int(value, bounds):
    ok = isinstance(value, int) and not isinstance(value, bool) and bounds[0] <= value <= bounds[1]
    return value if ok else None


# --- trace context (section 9) ---------------------------------------------------------------


def child_of(traceparent):
    """A new span under `traceparent`, or None when it is not a valid version-00 value."""
    match = TRACEPARENT.match(traceparent) if isinstance(traceparent, str) else None
    if not match or set(match[1]) == {"0"} or set(match[2]) == {"0"}:
        return None
    return f"00-{match[1]}-{secrets.token_hex(8)}-{match[3]}"


def continue_trace(header, envelope_field=None):
    """The header's trace if there is a header, else the envelope's, else a new trace."""
    source = header if header is not None else envelope_field
    return child_of(source) or f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


# --- configuration ----------------------------------------------------------------------------


def by_module(values):
    """`orders=A,B` / `orders=A,notifications=B` (repeatable) → {module: [A, B]}."""
    result, current = {}, None
    for value in values:
        for item in filter(None, (part.strip() for part in value.split(","))):
            if "=" in item and MODULE_NAME.match(item.split("=", 1)[0]):
                current, item = item.split("=", 1)
            if current is None:
                raise SystemExit(f"billing: `{item}` names no module (expected MODULE=VALUE)")
            result.setdefault(current, []).append(item)
    return result


def parse_config(argv):
    env = os.environ.get
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--db", default=env("BILLING_DB", "billing.db"), help="SQLite file (created if missing)")
    add("--listen", default=env("BILLING_LISTEN", "127.0.0.1:8081"), help="public API address")
    add("--internal-listen", default=env("BILLING_INTERNAL_LISTEN", "127.0.0.1:9181"),
        help="internal listener (the wire protocol)")
    add("--remote", action="append",
        help="MODULE=URL[,URL…][,MODULE=URL…]: where the subscribers of billing's events run")
    add("--token", default=env("BILLING_TOKEN"),
        help="billing's own token (credentials.billing.token)")
    add("--internal-token", default=env("BILLING_INTERNAL_TOKEN"),
        help="the shared internal_token")
    add("--accept", action="append",
        help="MODULE=sha256:HEX[,sha256:HEX…]: digests of the tokens accepted from MODULE")
    add("--contracts", default=env("BILLING_CONTRACTS", str(here.parent.parent / "modules")),
        help="directory searched for the published contract.json files")
    add("--max-body-bytes", type=int, default=int(env("BILLING_MAX_BODY_BYTES", "1048576")))
    add("--timeout-ms", type=int, default=int(env("BILLING_TIMEOUT_MS", "2000")))
    add("--poll-interval-ms", type=int, default=int(env("BILLING_POLL_INTERVAL_MS", "500")))
    add("--backoff-initial-ms", type=int, default=int(env("BILLING_BACKOFF_INITIAL_MS", "200")))
    add("--backoff-max-ms", type=int, default=int(env("BILLING_BACKOFF_MAX_MS", "30000")))
    add("--max-attempts", type=int, default=int(env("BILLING_MAX_ATTEMPTS", "10")))
    config = parser.parse_args(argv)
    # The flags, if given, replace the environment's lists.
    remote = by_module(config.remote or [env("BILLING_REMOTE", "")])
    config.remote = {module: [url.rstrip("/") for url in urls] for module, urls in remote.items()}
    config.accept = by_module(config.accept or [env("BILLING_ACCEPT", "")])
    for module, digests in config.accept.items():
        for digest in digests:
            if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
                raise SystemExit(f"billing: accept.{module}: `{digest}` is not sha256:<64 hex>")
    if not (config.token or config.internal_token):
        raise SystemExit("billing: no credential: set --token (BILLING_TOKEN) or --internal-token")
    return config


def load_contracts(directory):
    contracts = {}
    for path in sorted(Path(directory).glob("**/contract.json")):
        contract = json.loads(path.read_text())
        contracts[contract["module"]] = contract
    if MODULE not in contracts:
        raise SystemExit(f"billing: no contract of `{MODULE}` under {directory}")
    return contracts


def major(version):
    return int(version.split(".")[0])


# --- storage ----------------------------------------------------------------------------------


class Store:
    """One SQLite connection shared by every thread, one transaction at a time."""

    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA busy_timeout = 10000")
        self.db.executescript(SCHEMA)
        self.lock = threading.Lock()

    @contextmanager
    def transaction(self):
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def query(self, sql, args=()):
        with self.lock:
            return self.db.execute(sql, args).fetchall()


class Refusal(Exception):
    """A refusal answered with `{"error", "message"}`."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# --- the module: requests, events, public reads -----------------------------------------------


class Billing:
    def __init__(self, config, contracts):
        self.config, self.contracts = config, contracts
        self.contract = contracts[MODULE]
        self.store = Store(config.db)
        # Subscribers of each event billing publishes, read from the contracts.
        self.subscribers = {
            event: sorted(m for m, c in contracts.items() if event in c.get("subscribes", []))
            for event in self.contract["events"]
        }
        for event, modules in self.subscribers.items():
            for module in modules:
                if module not in config.remote:
                    raise SystemExit(f"billing: `{module}` subscribes to {event}: give its URL "
                                     f"with --remote {module}=URL (BILLING_REMOTE)")
        self.relay = Relay(self)

    def get_invoice(self, request):
        """`billing.get_invoice`: (response, None) or (None, domain error)."""
        order_id = as_uuid(request.get("order_id")) if isinstance(request, dict) else None
        if order_id is None:
            raise Refusal(400, "bad_payload", "expected {\"order_id\": <uuid>}")
        invoices = self.invoices(order_id)
        if not invoices:
            return None, {"code": "not_invoiced", "order_id": order_id}
        invoice = invoices[0]
        paid = sum(payment["amount_cents"] for payment in invoice["payments"])
        return {"invoice_id": invoice["id"], "order_id": order_id,
                "amount_cents": invoice["amount_cents"], "paid_cents": paid,
                "status": invoice["status"]}, None

    def invoices(self, order_id):
        """An order's invoices with their payments, as the shop's OpenAPI `InvoiceBody`."""
        rows = self.store.query(
            "SELECT i.id, i.customer, i.amount_cents, i.created_at_ms, p.id AS payment_id,"
            " p.amount_cents AS paid, p.captured_at_ms FROM billing_invoices i"
            " LEFT JOIN billing_payments p ON p.invoice_id = i.id"
            " WHERE i.order_id = ? ORDER BY i.created_at_ms, i.id, p.captured_at_ms", (order_id,))
        invoices = {}
        for row in rows:
            invoice = invoices.setdefault(row["id"], {
                "id": row["id"], "order_id": order_id, "customer": row["customer"],
                "amount_cents": row["amount_cents"], "status": "open",
                "created_at": rfc3339(row["created_at_ms"]), "payments": []})
            if row["payment_id"] is not None:
                invoice["payments"].append({"id": row["payment_id"], "amount_cents": row["paid"],
                                            "captured_at": rfc3339(row["captured_at_ms"])})
        for invoice in invoices.values():
            if sum(p["amount_cents"] for p in invoice["payments"]) >= invoice["amount_cents"]:
                invoice["status"] = "paid"
        return list(invoices.values())

    def apply(self, envelope, trace):
        """Applies a delivered event once (section 6.3): "applied" or "duplicate"."""
        if envelope["name"] not in self.contract.get("subscribes", []):
            raise Refusal(400, "bad_payload", f"billing does not subscribe to {envelope['name']}")
        with self.store.transaction() as db:
            inserted = db.execute(
                "INSERT OR IGNORE INTO billing_inbox (subscriber, event_id, name, received_at_ms)"
                " VALUES (?, ?, ?, ?)", (MODULE, envelope["id"], envelope["name"], now_ms()))
            if inserted.rowcount == 0:
                return "duplicate"
            self.on_order_placed(db, envelope["payload"], trace)
        self.relay.wake()
        return "applied"

    def on_order_placed(self, db, payload, trace):
        """`orders.order_placed`: an invoice for the total, and its (simulated) capture."""
        order = payload if isinstance(payload, dict) else {}
        order_id, customer = as_uuid(order.get("order_id")), order.get("customer")
        total, lines = as_int(order.get("total_cents"), I64), order.get("lines")

        def valid_line(line):
            return (isinstance(line, dict) and isinstance(line.get("sku"), str)
                    and as_int(line.get("quantity"), U32) is not None
                    and as_int(line.get("unit_price_cents"), I64) is not None)

        if (order_id is None or not isinstance(customer, str) or total is None
                or not isinstance(lines, list) or not all(map(valid_line, lines))):
            raise Refusal(400, "bad_payload", "the payload is not an orders.order_placed")
        invoice_id, payment_id, now = uuid7(), uuid7(), now_ms()
        db.execute("INSERT INTO billing_invoices VALUES (?, ?, ?, ?, ?)",
                   (invoice_id, order_id, customer, total, now))
        db.execute("INSERT INTO billing_payments VALUES (?, ?, ?, ?)",
                   (payment_id, invoice_id, total, now))
        self.publish(db, "billing.payment_captured", {
            "order_id": order_id, "customer": customer, "invoice_id": invoice_id,
            "payment_id": payment_id, "amount_cents": total}, trace)

    def publish(self, db, name, payload, trace):
        """Writes the event to the outbox, one row per subscriber, in the caller's transaction."""
        event_id = uuid7()  # shared by every subscriber's copy: their inboxes' key
        envelope = json.dumps({"id": event_id, "name": name, "publisher": MODULE,
                               "published_at_ms": now_ms(), "payload": payload,
                               "traceparent": trace}, separators=(",", ":"))
        for subscriber in self.subscribers[name]:
            db.execute("INSERT INTO billing_outbox (event_id, subscriber, envelope, due_at_ms)"
                       " VALUES (?, ?, ?, ?)", (event_id, subscriber, envelope, now_ms()))

    def outbox_counts(self):
        rows = self.store.query("SELECT state, COUNT(*) AS n FROM billing_outbox GROUP BY state")
        counts = {row["state"]: row["n"] for row in rows}
        return {"pending": counts.get("pending", 0), "failed": counts.get("failed", 0)}


# --- the relay: outbox rows to the subscribers, after commit (section 6.5) ---------------------


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx answer stays an answer (an outage)


class Relay(threading.Thread):
    def __init__(self, billing):
        super().__init__(name="relay", daemon=True)
        self.billing, self.config = billing, billing.config
        self.wakeup, self.stopping = threading.Event(), False
        self.turn = {}  # round robin over each subscriber's instances
        self.http = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirects())

    def wake(self):
        self.wakeup.set()

    def stop(self):
        self.stopping = True
        self.wakeup.set()

    def run(self):
        while not self.stopping:
            self.wakeup.clear()
            try:
                delivered = self.deliver_due()
            except Exception as error:  # the database may be busy; try again on the next pass
                log(f"relay pass failed: {error!r}")
                delivered = False
            if not delivered:
                self.wakeup.wait(self.config.poll_interval_ms / 1000)

    def deliver_due(self):
        """One pass over the due rows, one at a time in written order. True if any went out."""
        rows = self.billing.store.query(
            "SELECT seq, subscriber, envelope, tries, refusals FROM billing_outbox"
            " WHERE state = 'pending' AND due_at_ms <= ? ORDER BY seq LIMIT 100", (now_ms(),))
        delivered, down = False, set()
        for row in rows:
            if self.stopping:
                break
            if row["subscriber"] in down:
                continue  # one outage per subscriber and pass; the rest wait for the next pass
            outcome, detail = self.send(row["subscriber"], row["envelope"])
            with self.billing.store.transaction() as db:
                if outcome == "delivered":
                    delivered = True
                    db.execute("UPDATE billing_outbox SET state = 'delivered', delivered_at_ms = ?,"
                               " last_error = NULL WHERE seq = ?", (now_ms(), row["seq"]))
                    continue
                tries = row["tries"] + 1
                refusals = row["refusals"] + (outcome == "refused")
                state = "failed" if refusals >= self.config.max_attempts else "pending"
                delay = min(self.config.backoff_initial_ms * 2 ** min(tries - 1, 30),
                            self.config.backoff_max_ms)
                db.execute("UPDATE billing_outbox SET state = ?, tries = ?, refusals = ?,"
                           " due_at_ms = ?, last_error = ? WHERE seq = ?",
                           (state, tries, refusals, now_ms() + delay, detail, row["seq"]))
            log(f"delivery {row['seq']} to {row['subscriber']}: {outcome} ({detail})"
                + (", set aside as failed" if state == "failed" else ""))
            if outcome == "outage":
                down.add(row["subscriber"])
        return delivered

    def send(self, subscriber, envelope):
        """POSTs one envelope: ("delivered" | "refused" | "outage", detail)."""
        urls = self.config.remote[subscriber]
        turn = self.turn.get(subscriber, 0)
        self.turn[subscriber] = turn + 1
        token = self.config.token or self.config.internal_token
        request = urllib.request.Request(
            f"{urls[turn % len(urls)]}/_cleave/v1/events/{subscriber}", data=envelope.encode(),
            method="POST", headers={
                "authorization": f"Bearer {token}", "cleave-sender": MODULE,
                "cleave-contract": f"{MODULE}/{self.billing.contract['version']}",
                "content-type": "application/json",
                "traceparent": continue_trace(json.loads(envelope).get("traceparent"))})
        try:
            with self.http.open(request, timeout=self.config.timeout_ms / 1000) as answer:
                status, body = answer.status, answer.read(200)
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read(200)
        except (OSError, http.client.HTTPException) as error:
            return "outage", f"no answer: {error}"
        if 200 <= status < 300:
            return "delivered", None
        detail = f"{status} {body.decode(errors='replace')}"
        return ("refused" if status in (400, 409, 413, 422) else "outage"), detail


# --- HTTP: the internal listener (the wire protocol) and the public API ------------------------


class Handler(BaseHTTPRequestHandler):
    """Routes `ROUTES` (a path, or a prefix ending in `/`, its method and the method name)."""

    protocol_version = "HTTP/1.1"
    server_version = "cleave-python-billing"
    timeout = 10  # a body that stops arriving for this long ends with 408 body_timeout
    ROUTES = [("/health", "GET", "health"), ("/ready", "GET", "ready")]

    def log_message(self, *args):
        pass  # no access log

    @property
    def billing(self):
        return self.server.billing

    def answer(self, status, body, headers=()):
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def dispatch(self, method):
        self.body_read = method == "GET"
        path = urlsplit(self.path).path
        try:
            for pattern, allowed, name in self.ROUTES:
                if path == pattern or (pattern.endswith("/") and path.startswith(pattern)):
                    if method != allowed:
                        self.answer(405, {"error": "method_not_allowed", "message": f"{path} "
                                          f"takes {allowed}"}, [("allow", allowed)])
                    else:
                        getattr(self, name)(path.removeprefix(pattern))
                    break
            else:
                raise Refusal(404, "no_route", f"no route for {method} {path[:100]}")
        except Refusal as refusal:
            self.answer(refusal.status, {"error": refusal.code, "message": refusal.message})
        except sqlite3.Error as error:
            self.answer(503, {"error": "unavailable", "message": f"database: {error}"})
        finally:
            if not self.body_read:
                self.close_connection = True  # an unread body would spoil the next request

    def health(self, _):
        self.answer(200, {"status": "ok"})

    def ready(self, _):
        self.billing.store.query("SELECT 1")
        self.answer(200, {"status": "ready", "checks": {"database": {"ok": True}}})


class PublicHandler(Handler):
    ROUTES = Handler.ROUTES + [("/api/billing/invoices", "GET", "list_invoices")]

    def list_invoices(self, _):
        values = parse_qs(urlsplit(self.path).query).get("order_id", [])
        order_id = as_uuid(values[0]) if len(values) == 1 else None
        if order_id is None:
            raise Refusal(400, "invalid_query", "expected ?order_id=<uuid>")
        self.answer(200, {"invoices": self.billing.invoices(order_id)})


class InternalHandler(Handler):
    ROUTES = Handler.ROUTES + [
        ("/_cleave/contracts", "GET", "contracts"), ("/_cleave/modules", "GET", "modules"),
        ("/_cleave/v1/requests/", "POST", "request_"), ("/_cleave/v1/events/", "POST", "event")]

    def contracts(self, _):
        self.authenticate()
        self.answer(200, {"contracts": {MODULE: self.billing.contract}})

    def modules(self, _):
        self.authenticate()
        modules = [{"name": MODULE, "location": "local",
                    "contract_version": self.billing.contract["version"],
                    "outbox": self.billing.outbox_counts()}]
        for name, urls in sorted(self.billing.config.remote.items()):
            known = self.billing.contracts.get(name, {}).get("version")
            modules.append({"name": name, "location": "remote", "url": ",".join(urls),
                            "contract_version": known, "outbox": None})
        self.answer(200, {"modules": sorted(modules, key=lambda m: m["name"])})

    # Checks of section 4, in the order of section 4.3.

    def authenticate(self):
        """The sender proved by the credential (section 4.1); 400 or 401 otherwise."""
        sender = self.headers.get("cleave-sender", "external")
        if not MODULE_NAME.match(sender):
            raise Refusal(400, "bad_sender", f"`{sender[:100]}` is not a module name")
        value = self.headers.get("authorization", "")
        token = value[len("Bearer "):] if value.startswith("Bearer ") else None
        digests = self.billing.config.accept.get(sender)
        shared = self.billing.config.internal_token
        if digests:
            presented = "sha256:" + hashlib.sha256((token or "").encode()).hexdigest()
            matches = [hmac.compare_digest(presented, digest) for digest in digests]
            proven = token is not None and any(matches)
        else:
            proven = token is not None and shared is not None and \
                hmac.compare_digest(token.encode(), shared.encode())
        if not proven:
            raise Refusal(401, "unauthorized", f"the credential does not prove `{sender}`")
        return sender

    def check_contract(self, module):
        """`cleave-contract: <module>/<major>.<minor>` against the version known for `module`."""
        value = self.headers.get("cleave-contract")
        if value is None:
            raise Refusal(400, "missing_contract", "no cleave-contract header")
        match = CONTRACT_HEADER.match(value)
        if not match or match[1] != module:
            raise Refusal(400, "bad_contract", f"expected `{module}/<major>.<minor>`, got "
                                               f"`{value[:100]}`")
        known = self.billing.contracts[module]["version"]
        if int(match[2]) != major(known):
            raise Refusal(409, "incompatible_contract",
                          f"sender was built against {module} {match[2]}.{match[3]}, this process "
                          f"has {module} {known}; major versions must match")

    def body(self):
        """The body as JSON, under the cap (section 10): 413 above it, 400 or 408 if unreadable."""
        cap, length = self.billing.config.max_body_bytes, self.headers.get("content-length", "0")
        chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        if not chunked and not length.isdigit():
            raise Refusal(400, "bad_body", "bad content-length")
        if not chunked and int(length) > 64 * cap:  # not worth reading: the connection closes
            raise Refusal(413, "payload_too_large", f"body of {length} bytes over {cap}")
        parts, size = [], 0
        try:  # past the cap, read on and drop what comes, so that the answer reaches the sender
            for part in self.chunks() if chunked else self.pieces(int(length)):
                size += len(part)
                parts.append(part if size <= cap else b"")
        except TimeoutError:
            raise Refusal(408, "body_timeout", "the body stopped arriving")
        self.body_read = True
        if size > cap:
            raise Refusal(413, "payload_too_large", f"body of {size} bytes over {cap}")
        try:
            return json.loads(b"".join(parts))
        except ValueError as error:
            raise Refusal(400, "bad_payload", f"not JSON: {error}")

    def pieces(self, length):
        while length > 0:
            piece = self.rfile.read(min(length, 65536))
            if not piece:
                raise Refusal(400, "bad_body", "the body ended early")
            length -= len(piece)
            yield piece

    def chunks(self):
        while True:
            try:
                length = int(self.rfile.readline(100).split(b";")[0], 16)
            except ValueError:
                raise Refusal(400, "bad_body", "malformed chunked body")
            if length == 0:
                self.rfile.readline(100)  # the empty line after the (absent) trailers
                return
            yield from self.pieces(length)
            self.rfile.readline(10)  # the chunk's CRLF

    def request_(self, name):
        sender = self.authenticate()
        if name not in self.billing.contract["requests"]:
            raise Refusal(404, "unknown_request", f"no module here handles `{name[:100]}`")
        sends = self.billing.contracts.get(sender, {}).get("sends", [])
        if sender != "external" and name not in sends:
            raise Refusal(403, "forbidden_sender",
                          f"module `{sender}` does not declare that it sends `{name}`")
        self.check_contract(MODULE)
        request = self.body()
        response, domain_error = self.billing.get_invoice(request)
        if domain_error is not None:
            self.answer(200, domain_error, [("cleave-outcome", "domain-error")])
        else:
            self.answer(200, response)

    def event(self, subscriber):
        sender = self.authenticate()
        if subscriber != MODULE or not self.billing.contract.get("subscribes"):
            raise Refusal(404, "unknown_subscriber", f"`{subscriber[:100]}` is not hosted here")
        envelope = self.body()
        fields = envelope if isinstance(envelope, dict) else {}
        event_id = as_uuid(fields.get("id"))
        traceparent = fields.get("traceparent")
        if (event_id is None or not isinstance(fields.get("name"), str)
                or not isinstance(fields.get("publisher"), str)
                or as_int(fields.get("published_at_ms"), I64) is None or "payload" not in fields
                or not (traceparent is None or isinstance(traceparent, str))):
            raise Refusal(400, "bad_payload", "not an event envelope")
        name, publisher = fields["name"], fields["publisher"]
        if sender == "external" or publisher != sender:
            raise Refusal(403, "forbidden_sender", f"`{sender}` may not send events of "
                                                   f"`{publisher[:100]}`")
        if name not in self.billing.contracts.get(sender, {}).get("events", {}):
            raise Refusal(403, "forbidden_sender", f"`{sender}` does not publish `{name[:100]}`")
        self.check_contract(publisher)
        trace = continue_trace(self.headers.get("traceparent"), traceparent)
        status = self.billing.apply(dict(fields, id=event_id), trace)
        self.answer(200, {"status": status})


class Server(ThreadingHTTPServer):
    daemon_threads, request_queue_size = True, 128


def serve(handler, address, billing):
    host, port = address.rsplit(":", 1)
    server = Server((host, int(port)), handler)
    server.billing = billing
    threading.Thread(target=server.serve_forever, name=handler.__name__, daemon=True).start()
    return server


def main(argv=None):
    config = parse_config(argv)
    billing = Billing(config, load_contracts(config.contracts))
    internal = serve(InternalHandler, config.internal_listen, billing)
    public = serve(PublicHandler, config.listen, billing)
    billing.relay.start()
    url = lambda server: "http://%s:%d" % server.server_address[:2]
    print(f"billing listening on {url(public)} (internal {url(internal)})", flush=True)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    while not stopping.wait(1):
        pass
    for server in (public, internal):
        server.shutdown()
    billing.relay.stop()
    billing.relay.join(timeout=config.timeout_ms / 1000 + 1)


if __name__ == "__main__":
    main()
