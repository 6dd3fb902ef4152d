"""Bounded HTTP request heads for ``fastdnn serve``: ``--max-header-bytes``, ``--max-headers``.

uvicorn's httptools protocol keeps no limit on a request's head (request line and
headers): llhttp hands a header over in pieces that are joined in Python, so a huge
header cost minutes of quadratic copying, stalling every other request
(docs/performance.md, "Figures behind the code"). h11
bounds the head itself (``h11_max_incomplete_event_size``); httptools gets the
protocol below, which feeds the parser a head at most ``max_header_bytes`` at a time
and counts, and answers a head over either limit with 431 and closes the connection
(as uvicorn answers a malformed request with 400).

Counting is by what the parser is fed while a head is open (from the end of one
message to its successor's ``on_headers_complete``): exact for one request per
connection; with pipelining, the piece that ends one message and begins the next is
not counted, so a head is refused by twice the limit at the latest.
"""

import json

MAX_HEADER_BYTES = 64 << 10
"""Default bound of a request's head, request line and headers (``--max-header-bytes``):
64 KiB, four times what Node.js and h11 allow, room for long tokens and cookies."""

MAX_HEADERS = 100
"""Default most header fields in a request (``--max-headers``)."""


class HeadTooLarge(ValueError):
    """A request head over a limit: answered 431 with its message."""


def http_protocol(max_header_bytes=MAX_HEADER_BYTES, max_headers=MAX_HEADERS):
    """uvicorn's ``http`` and extra settings that bound request heads: the bounded
    httptools protocol where httptools is installed, else h11 with its own bound (which
    counts bytes only)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return {"http": "h11", "h11_max_incomplete_event_size": max_header_bytes}
    return {"http": _bounded(HttpToolsProtocol, max_header_bytes, max_headers)}


def _bounded(base, max_header_bytes, max_headers):
    import httptools

    headers_complete, message_complete = base.on_headers_complete, base.on_message_complete

    class BoundedHttpTools(base):
        """``HttpToolsProtocol`` with the head bounded (module docstring). Per request it
        adds two calls to uvicorn's own: the bytes are counted as they are fed, the
        fields (their memory bounded by the bytes already) when the head is complete."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._in_head = True  # a connection opens with a request's head
            self._head_bytes = self._completed = 0

        def on_headers_complete(self):
            self._in_head, self._head_bytes = False, 0
            if len(self.headers) > max_headers:
                raise HeadTooLarge(
                    f"the request has more than {max_headers} header fields (--max-headers)"
                )
            headers_complete(self)

        def on_message_complete(self):
            self._in_head, self._completed = True, self._completed + 1
            message_complete(self)

        def data_received(self, data):
            # uvicorn's own data_received, the parser fed a head at most the room left
            self._unset_keepalive_if_required()
            try:
                if not self._in_head or len(data) < max_header_bytes - self._head_bytes:
                    completed = self._completed
                    self.parser.feed_data(data)
                    if self._in_head:  # a head is open: count it, or anew if it began in data
                        same = completed == self._completed
                        self._head_bytes = self._head_bytes + len(data) if same else 0
                else:
                    self._feed_head(data)
            except HeadTooLarge as exc:
                self._refuse(exc)
            except httptools.HttpParserUpgrade:
                if self._should_upgrade():
                    self.handle_websocket_upgrade()
                else:
                    self._unsupported_upgrade_warning()
            except httptools.HttpParserError as exc:
                if isinstance(exc.__context__, HeadTooLarge):  # raised in a callback
                    self._refuse(exc.__context__)
                    return
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)

        def _feed_head(self, data):
            """Feed ``data`` that could take a head past the limit: the room left at a time."""
            start = 0
            while self._in_head and start < len(data):
                piece = data[start : start + max_header_bytes - self._head_bytes]
                completed = self._completed
                self.parser.feed_data(piece)
                start += len(piece)
                if not self._in_head:
                    continue
                if self._completed != completed:  # a message ended in it: a new head began
                    self._head_bytes = 0
                    continue
                self._head_bytes += len(piece)
                if self._head_bytes >= max_header_bytes:
                    raise HeadTooLarge(
                        f"the request's head (request line and headers) exceeds "
                        f"{max_header_bytes} bytes (--max-header-bytes)"
                    )
            if start < len(data):
                self.parser.feed_data(data[start:])

        def _refuse(self, exc):
            body = json.dumps({"error": str(exc)}).encode()
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                b"content-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body
            )
            self.transport.close()

    return BoundedHttpTools
