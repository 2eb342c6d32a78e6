"""uvicorn's HTTP protocol with JSON errors: a request too malformed to reach the app (bad
request line, bad headers, headers too large) is answered ``400 {"detail": ...}`` with the
same security headers as every other response, not uvicorn's plain text."""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class JSONErrorsH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        from rclicks.leaderboard.server import SECURITY_HEADERS

        body = json.dumps({"detail": msg}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *((k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()
