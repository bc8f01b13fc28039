#!/usr/bin/env python3
"""A real SMTP server for the end-to-end mail tests (tests/e2e/mail.rs).

    smtp_sink.py --port PORT --out FILE [--reject-domain DOMAIN] [--delay-ms MS]

Listens on 127.0.0.1:PORT (0 picks a free port), prints `listening PORT` once it accepts
connections, and appends every message it receives to FILE as one JSON line: the envelope
(sender, recipients), the raw message, and the headers and body decoded by Python's own MIME
parser, so the test checks what a mail client would show rather than re-implementing MIME.
Recipients at --reject-domain are refused with a permanent 550, as a real server refuses an
unknown mailbox. --delay-ms makes each message take that long to accept, like a busy relay,
so that senders overlap in time. Needs aiosmtpd (scripts/test installs it).
"""

import argparse
import asyncio
import email
import email.policy
import json
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, out, reject_domain, delay):
        self.out = out
        self.reject_domain = reject_domain
        self.delay = delay

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject_domain and address.lower().endswith("@" + self.reject_domain):
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "raw": raw.decode("utf-8", errors="replace"),
            "from": str(msg.get("From", "")),
            "to": str(msg.get("To", "")),
            "subject": str(msg.get("Subject", "")),
            "message_id": str(msg.get("Message-ID", "")),
            "content_type": msg.get_content_type(),
            "charset": msg.get_content_charset(),
            "body": body.get_content() if body is not None else None,
        }
        # One write per message, so a reader never sees half a line it could mistake for whole.
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        return "250 Message accepted for delivery"


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--reject-domain", default=None)
    p.add_argument("--delay-ms", type=int, default=0)
    args = p.parse_args()
    handler = Sink(args.out, args.reject_domain, args.delay_ms / 1000)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.test", enable_SMTPUTF8=True),
        host="127.0.0.1",
        port=args.port,
    )
    port = server.sockets[0].getsockname()[1]
    print(f"listening {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
