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
