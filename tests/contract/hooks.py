"""Hooks of the contract test (scripts/contract loads them through SCHEMATHESIS_HOOKS).

Some rules that the server enforces cannot be stated in an OpenAPI document, because they
depend on the database, on who is asking, or on two places of one request. Each operation's
description states them, and the server refuses a request that breaks one with 422 naming the
field. A request generated as valid from the document alone would nearly always break one and
stop there, never reaching the code behind it. So, before a request generated as VALID is sent,
this hook makes it meet those rules, and only those:

- a field that names another record (a category, an area, a building) names one of the demo
  street (`gridwing serve --demo`): the document states the shape of such names, not which exist;
- a create that must carry an idempotency key (the body's `id` or an `Idempotency-Key` header)
  gets the header when its body has no `id`: one of two places, which OpenAPI cannot say;
- a shift ends after it starts: an order between two fields;
- only the command centre sets an event's colour: a rule of the caller's role (GW_ROLE).

Requests generated as INVALID are sent exactly as generated.
"""

import os
import uuid

import schemathesis

# Body fields that name records of the demo street, and the names they get; a list gets one.
NAMES = {
    "category": "environment.garbage",
    "categories": "dispute.neighbour",
    "building_code": "QSH-B0001",
    "area": "QSH-C01",
    "area_code": "QSH-C01",
    "areas": "QSH-G001",
}

# Creates whose key may be the body's `id` or the `Idempotency-Key` header.
KEYED = {
    ("POST", "/api/v1/events"),
    ("POST", "/api/v1/patrol-checkins"),
    ("POST", "/api/v1/patrol-checkins/{id}/findings"),
    ("POST", "/api/v1/sorting/accounts/{code}/records"),
}

COMMAND_CENTRE = os.environ.get("GW_ROLE") in ("admin", "dispatcher")


def _name(field, value):
    real = NAMES[field]
    if isinstance(value, list):
        return [real] if value else []
    if value is None:
        return None
    return real


@schemathesis.hook
def before_call(context, case, kwargs):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    body = case.body
    if not isinstance(body, dict):
        return
    for field in NAMES.keys() & body.keys():
        body[field] = _name(field, body[field])
    operation = (case.method.upper(), case.path)
    if operation in KEYED and body.get("id") is None:
        headers = case.headers if case.headers is not None else {}
        if not any(k.lower() == "idempotency-key" for k in headers):
            headers["Idempotency-Key"] = str(uuid.uuid4())
            case.headers = headers
    if operation == ("POST", "/api/v1/events") and not COMMAND_CENTRE:
        body.pop("colour", None)
    for shift in body.get("shifts") or []:
        if isinstance(shift, dict) and {"starts_at", "ends_at"} <= shift.keys():
            start, end = sorted((shift["starts_at"], shift["ends_at"]))
            shift["starts_at"], shift["ends_at"] = start, end
