"""Hooks of the contract test (scripts/contract loads them through SCHEMATHESIS_HOOKS).

Some rules that the server enforces cannot be stated in an OpenAPI document, because they
depend on the database, on who is asking, or on two places of one request. Each operation's
description states them, and the server refuses a request that breaks one with 422 naming the
field. A request generated as valid from the document alone would nearly always break one and
stop there, never reaching the code behind it. So, before a request generated as VALID is sent,
this hook makes it meet those rules, and only those:

- a field that names another record (a category, an area, a building, a person) names one of
  the demo street (`gridwing serve --demo`): the document states the shape of such names, not
  which exist; a scanned code is one the server signed (scripts/contract passes them in); a
  report names no photos (they must be the caller's own uploads);
- a create's idempotency key (the body's `id` or an `Idempotency-Key` header) is a fresh one:
  a key already used for another body is refused, as it must be;
- a create that must carry such a key gets the header when its body has no `id`: one of two
  places, which OpenAPI cannot say;
- a shift ends after it starts: an order between two fields; a drop-off was seen in the last
  7 days: a window that moves with the clock;
- only the command centre sets an event's colour: a rule of the caller's role (GW_ROLE);
- a street's health rules weigh categories of the catalogue (the document states the shape of
  a code, not which exist), and their thresholds increase from blue to red: an order between
  four fields.

Requests generated as INVALID are sent exactly as generated.
"""

import os
import uuid
from datetime import datetime, timedelta, timezone

import schemathesis

# Body fields that name records of the demo street, and the names they get; a list gets one.
NAMES = {
    "category": "environment.garbage",
    "categories": "dispute.neighbour",
    "building_code": "QSH-B0001",
    "area": "QSH",
    "area_code": "QSH-C01",
    "areas": "QSH-G001",
    "team": "HQXF",
}

# Fields naming a person: the demo citizen, a registered volunteer.
PEOPLE = {"user_id", "holder_id", "leaders"}

# Scanned codes, by operation: signed by the server for the demo street.
SCANS = {
    ("POST", "/api/v1/scan"): os.environ.get("GW_QR"),
    ("POST", "/api/v1/attendance/scan"): os.environ.get("GW_ATTENDANCE"),
}

# Creates whose `Idempotency-Key` header is required.
KEY_REQUIRED = {
    ("POST", "/api/v1/points/adjustments"),
    ("POST", "/api/v1/rewards/{code}/redeem"),
}

# Creates whose key may be the body's `id` or the `Idempotency-Key` header.
KEYED = {
    ("POST", "/api/v1/events"),
    ("POST", "/api/v1/patrol-checkins"),
    ("POST", "/api/v1/patrol-checkins/{id}/findings"),
    ("POST", "/api/v1/sorting/accounts/{code}/records"),
}

COMMAND_CENTRE = os.environ.get("GW_ROLE") in ("admin", "dispatcher")


def _name(real, value):
    """`real` in place of a generated name, or of each name of a list."""
    if isinstance(value, list):
        return [real if isinstance(v, str) else v for v in value[:1]]
    if isinstance(value, str):
        return real
    return value


def _instant(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@schemathesis.hook
def before_call(context, case, kwargs):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    operation = (case.method.upper(), case.path)
    if operation in KEY_REQUIRED:
        case.headers = {**(case.headers or {}), "Idempotency-Key": str(uuid.uuid4())}
    body = case.body
    if not isinstance(body, dict):
        return
    for field in NAMES.keys() & body.keys():
        body[field] = _name(NAMES[field], body[field])
    person = os.environ.get("GW_USER_ID")
    for field in PEOPLE & body.keys():
        body[field] = _name(person, body[field])
    # Photos name the caller's own uploads; a generated hash names none.
    if isinstance(body.get("photos"), list):
        body["photos"] = []
    if isinstance(body.get("observed_at"), str):
        body["observed_at"] = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()
    # An account's areas must exist in the tree, at their level.
    if isinstance(body.get("areas"), list) and any(isinstance(a, dict) for a in body["areas"]):
        body["areas"] = [{"kind": "grid", "code": "QSH-G001"}]
    if SCANS.get(operation) and isinstance(body.get("code"), str):
        body["code"] = SCANS[operation]
    if operation in KEYED:
        if body.get("id") is not None:
            body["id"] = str(uuid.uuid4())
        headers = dict(case.headers or {})
        for k in [k for k in headers if k.lower() == "idempotency-key"]:
            del headers[k]
        if body.get("id") is None:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        case.headers = headers
    if operation == ("POST", "/api/v1/events") and not COMMAND_CENTRE:
        body.pop("colour", None)
    if operation == ("PUT", "/api/v1/health-rules/{street}"):
        weights = body.get("category_weights")
        if isinstance(weights, dict):
            body["category_weights"] = {"*": weights.get("*", 5)}
        t = body.get("thresholds")
        names = ["blue", "yellow", "orange", "red"]
        if isinstance(t, dict) and all(isinstance(t.get(n), int) for n in names):
            if any(t[a] >= t[b] for a, b in zip(names, names[1:])):
                body["thresholds"] = dict(zip(names, [1, 2, 3, 4]))
    for shift in body.get("shifts") or []:
        if isinstance(shift, dict) and {"starts_at", "ends_at"} <= shift.keys():
            start = _instant(shift["starts_at"])
            if _instant(shift["ends_at"]) <= start:
                shift["ends_at"] = (start + timedelta(hours=2)).isoformat()
