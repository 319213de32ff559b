"""schemathesis hooks for the shop's run (loaded by scripts/schemathesis.sh).

One rule of the public API that a JSON Schema cannot state: an `Idempotency-Key` names one
request. Sent again with another body it is refused with 422 `idempotency_key_reused` (the IETF
draft's answer), which the positive-data check would count as "valid data rejected" whenever
the generator happens to draw the same key twice (it likes `0`). So in positive mode every
request carries a key of its own; negative mode keeps the generated (malformed) keys, and the
replay of a key is covered by tests/shop/idempotency.rs.
"""

import uuid

import schemathesis


@schemathesis.hook
def before_call(context, case, **kwargs):
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive or not case.headers:
        return
    for name in list(case.headers):
        if name.lower() == "idempotency-key":
            case.headers[name] = f"schemathesis-{uuid.uuid4()}"


# One rule of the internal protocol that OpenAPI cannot state either: an event's
# `cleave-contract` header names the contract of the envelope's `publisher` (a header that
# depends on the body). A subscriber with several publishers documents the header as any of
# their `<module>/<major>.<minor>`, so in positive mode the generator may pair one publisher's
# envelope with another's header, which the receiver rightly refuses (400 `bad_contract`). In
# positive mode the header is made to name the body's publisher, at the major the operation's
# pattern gives it; negative mode keeps what was generated.
import re

EVENT_PATH = re.compile(r"^/_cleave/v1/events/")
MAJOR = re.compile(r"([a-z0-9_]+)/([0-9]+)")


@schemathesis.hook("before_call")
def contract_names_the_publisher(context, case, **kwargs):
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive:
        return
    if not EVENT_PATH.match(case.operation.path) or not isinstance(case.body, dict):
        return
    publisher = case.body.get("publisher")
    if not isinstance(publisher, str) or not case.headers:
        return
    for name in list(case.headers):
        if name.lower() != "cleave-contract":
            continue
        majors = {}
        for parameter in case.operation.iter_parameters():
            if parameter.name == "cleave-contract":
                schema = parameter.definition.get("schema", {})
                majors = dict(MAJOR.findall(schema.get("pattern", "")))
        minor = case.headers[name].rsplit(".", 1)[-1]
        if publisher in majors:
            case.headers[name] = f"{publisher}/{majors[publisher]}.{minor}"
