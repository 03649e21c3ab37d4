"""The HTTP front: EC2's Query endpoint at `/`, instance metadata under `/imds/INSTANCE_ID/`.

The stdlib's ThreadingHTTPServer, one thread per connection, HTTP/1.1 keep-alive. Each EC2 request
becomes one call on the simulated cloud as its caller (access key, user agent, source address), which
takes its latency outside the cloud's lock, so slow calls overlap as they do on EC2. Nothing but an
XML document ever answers an EC2 request: bad input gets EC2's error codes, and an unexpected failure is
logged here and answered `InternalError` (500) without a traceback.
"""

from __future__ import annotations

import logging
import socket
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vpccni.cloud.errors import Ec2Error, make_error
from vpccni.cloud.server import dispatch, model, sigv4, xmlwire
from vpccni.cloud.server.imds import Imds
from vpccni.cloud.server.operations import Call
from vpccni.cloud.server.query import parse_form
from vpccni.cloud.sim import SimCloud, SimEc2

log = logging.getLogger("vpccni.cloud.server")

MAX_BODY = 1 << 20  # bytes; larger request bodies are refused unread
FORM = "application/x-www-form-urlencoded"
IMDS_PREFIX = "/imds/"
Reply = tuple[int, bytes, list[tuple[str, str]]]


class _Refused(Exception):
    """A request refused before it could be read whole: answered, then the connection is closed."""

    def __init__(self, error: Ec2Error) -> None:
        super().__init__(error.message)
        self.error = error


class CloudServer:
    """EC2 and IMDS over HTTP for one simulated account; `start` serves on a thread, `serve_forever` blocks."""

    def __init__(self, cloud: SimCloud, host: str = "127.0.0.1", port: int = 0, max_body: int = MAX_BODY) -> None:
        model.service_model()  # load EC2's model now rather than on the first request
        self.cloud = cloud
        self.imds = Imds(cloud)
        self.max_body = max_body
        self._httpd = _Httpd((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def imds_url(self, instance_id: str) -> str:
        return f"{self.url}{IMDS_PREFIX}{instance_id}/"

    def start(self) -> CloudServer:
        self._thread = threading.Thread(target=self.serve_forever, name="cloud-serve", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop accepting, close the socket; a request already running finishes on its own thread."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # --- EC2 ---------------------------------------------------------------------------------------
    def ec2_request(self, method: str, target: str, headers: dict[str, str], body: bytes, client_ip: str) -> Reply:
        request_id = str(uuid.uuid4())
        try:
            xml = self._ec2(method, target, headers, body, client_ip, request_id)
            status = 200
        except Ec2Error as exc:
            status, xml = exc.http_status, xmlwire.error_document(exc.code, exc.message, request_id)
        except Exception:
            log.exception("internal error", extra={"request_id": request_id})
            status = 500
            xml = xmlwire.error_document("InternalError", "An internal error has occurred.", request_id)
        return status, xml, [("Content-Type", "text/xml;charset=UTF-8"), ("x-amzn-RequestId", request_id)]

    def _ec2(
        self, method: str, target: str, headers: dict[str, str], body: bytes, client_ip: str, request_id: str
    ) -> bytes:
        if method not in ("GET", "POST"):
            raise make_error("InvalidAction", f"EC2's Query API takes GET or POST, not {method}.", 405)
        query = parse_form(urllib.parse.urlsplit(target).query)
        caller = sigv4.caller_of({"Authorization": headers.get("authorization", "")}, query)
        params = dict(query)
        if body:
            content_type = headers.get("content-type", "")
            if not content_type.lower().startswith(FORM):
                raise make_error("InvalidParameterValue", f"Content-Type must be {FORM}, not '{content_type}'")
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise make_error("InvalidParameterValue", "The request body is not UTF-8") from None
            for name, value in parse_form(text).items():
                if name in params:
                    raise make_error("InvalidParameterValue", f"The parameter {name} is given more than once")
                params[name] = value
        for name in sigv4.PRESIGN_PARAMS:
            params.pop(name, None)
        action = params.pop("Action", "")
        if not action:
            raise make_error("MissingAction", "The request must contain the parameter Action")
        if not params.pop("Version", ""):
            raise make_error("MissingParameter", "The request must contain the parameter Version")
        ec2 = SimEc2(
            self.cloud,
            user_agent=headers.get("user-agent", ""),
            source_ip=client_ip,
            access_key_id=caller.access_key_id,
            request_id=request_id,
        )
        return dispatch.run_action(action, params, Call(ec2, self.cloud, request_id))

    # --- IMDS --------------------------------------------------------------------------------------
    def imds_request(self, method: str, target: str, headers: dict[str, str]) -> Reply:
        path = urllib.parse.urlsplit(target).path[len(IMDS_PREFIX) :]
        instance_id, _, rest = path.partition("/")
        reply = self.imds.handle(method, instance_id, rest, headers)
        return reply.status, reply.body.encode(), [("Content-Type", "text/plain"), *reply.headers]


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: CloudServer) -> None:
        self.app = app
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vpccni-cloud-serve"
    sys_version = ""
    server: _Httpd

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("%s " + format, self.client_address[0], *args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        app = self.server.app
        headers = {k.lower(): v for k, v in self.headers.items()}
        imds = self.path.startswith(IMDS_PREFIX)
        try:
            body = self._body(headers, app.max_body)
        except _Refused as refused:
            self.close_connection = True
            error = refused.error
            status, data = error.http_status, xmlwire.error_document(error.code, error.message, str(uuid.uuid4()))
            self._reply(method, status, data, [("Content-Type", "text/xml;charset=UTF-8"), ("Connection", "close")])
            return
        if imds:
            try:
                status, data, extra = app.imds_request(method, self.path, headers)
            except Exception:
                log.exception("internal error serving instance metadata", extra={"path": self.path})
                status, data, extra = 500, b"Internal Server Error", [("Content-Type", "text/plain")]
        else:
            status, data, extra = app.ec2_request(method, self.path, headers, body, self.client_address[0])
        self._reply(method, status, data, extra)

    def _body(self, headers: dict[str, str], limit: int) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise _Refused(make_error("MissingContentLength", "Send the body with a Content-Length.", 411))
        raw = headers.get("content-length", "0") or "0"
        if not raw.isdigit():
            raise _Refused(make_error("InvalidParameterValue", f"Content-Length '{raw}' is not a number"))
        length = int(raw)
        if length > limit:
            raise _Refused(
                make_error("RequestEntityTooLarge", f"The request body of {length} bytes exceeds {limit} bytes.", 413)
            )
        return self.rfile.read(length) if length else b""

    def _reply(self, method: str, status: int, data: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)
