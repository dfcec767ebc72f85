"""Batch endpoints for the wire servers: OpenAI Batch (files + batches) and Anthropic Message Batches.

Mounted on a running `OpenAIWireServer` / `AnthropicWireServer` with `mount_batches(server, ...)`. Each
batch item is answered by the server's own responder, exactly as the same body sent live would be, and
recorded among the server's requests (path `batch:<endpoint>`), so `answers_by_body_hash` counts live
and batch answers together. A batch stays in progress for `completion_delay_s` after its creation; a
`failure_share` of items (drawn from the custom id, only the first time that id is submitted to this
server) fail: an error-file line for OpenAI, an `errored` (or `expired`) result for Anthropic.

    with OpenAIWireServer() as server:
        batches = mount_batches(server, completion_delay_s=2.0, failure_share=0.2)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from apigen_pipeline.testing.wire_servers import AnthropicWireServer, OpenAIWireServer, WireReply, WireServer

AnthropicFailure = Literal["errored", "expired"]


@dataclass
class _Batch:
    id: str
    created_at: float
    items: list[tuple[str, dict[str, Any]]]  # (custom id, body)
    auth_header_present: bool  # on the request that created the batch (the key's value is never kept)
    input_file_id: str = ""
    lines: list[dict[str, Any]] | None = None  # per item, once ended
    output_file_id: str | None = None  # OpenAI: made once, when the ended batch is first rendered
    error_file_id: str | None = None
    files_made: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    metadata: dict[str, str] | None = None  # OpenAI: as given to `batches.create`, echoed back


def _write(handler: Any, status: int, body: bytes, content_type: str = "application/json") -> None:
    head = (f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\ncontent-type: {content_type}\r\n"
            f"content-length: {len(body)}\r\n\r\n")
    handler.wfile.write(head.encode("latin-1") + body)
    handler.wfile.flush()


def _json(handler: Any, payload: dict[str, Any], status: int = 200) -> None:
    _write(handler, status, json.dumps(payload, ensure_ascii=False).encode())


def _wire_size(body: dict[str, Any]) -> int:
    """The body's size as the SDKs send it live (compact JSON, UTF-8): usage estimated from it matches."""
    return len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())


def _rfc3339(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


class BatchEndpoints(ABC):
    """The shared machinery: batches, their delay, their failures and their answers."""

    endpoint = ""  # the live endpoint a batch item stands for

    def __init__(self, server: WireServer, completion_delay_s: float = 0.0, failure_share: float = 0.0):
        self.server = server
        self.completion_delay_s = completion_delay_s
        self.failure_share = failure_share
        self._lock = threading.Lock()
        self._batches: dict[str, _Batch] = {}
        self._ids = itertools.count(1)
        self._seen: Counter[str] = Counter()  # submissions per custom id
        # The next this many creates make their batch but answer 500, as if the answer was lost on the way.
        self.lose_create_answers = 0
        self.polls: Counter[str] = Counter()  # status requests per batch id

    # ---- what tests look at ----
    @property
    def batch_ids(self) -> list[str]:
        with self._lock:
            return list(self._batches)

    def submitted_custom_ids(self) -> Counter[str]:
        """How often each custom id was submitted, over every batch."""
        with self._lock:
            return Counter(custom_id for batch in self._batches.values() for custom_id, _ in batch.items)

    # ---- serving ----
    @abstractmethod
    def serve(self, handler: Any) -> bool:
        """Answer the request if it is a batch endpoint's; False leaves it to the server."""

    def _read(self, handler: Any) -> bytes:
        length = int(handler.headers.get("content-length") or 0)
        return handler.rfile.read(length) if length else b""

    def _new_batch(self, handler: Any, prefix: str, items: list[tuple[str, dict[str, Any]]]) -> _Batch:
        presented = self.server.presented_key(handler.headers) is not None
        with self._lock:
            batch = _Batch(f"{prefix}{next(self._ids):06d}", time.time(), items, presented)
            self._batches[batch.id] = batch
        return batch

    def _ended(self, batch: _Batch) -> bool:
        """Once due, answer every item (once) through the server's responder."""
        if time.time() < batch.created_at + self.completion_delay_s:
            return False
        with self._lock:
            if batch.lines is not None:
                return True
            lines = []
            for custom_id, body in batch.items:
                first = self._seen[custom_id] == 0
                self._seen[custom_id] += 1
                fails = first and self._draw(custom_id) < self.failure_share
                reply = WireReply.server_error("batch item failed") if fails else self.server.responder(body, 0)
                answered = reply.status == 200 and reply.body_mode == "complete"
                self.server.note_request(f"batch:{self.endpoint}", body, reply.status, answered,
                                         batch.auth_header_present)
                lines.append(self._line(custom_id, body, reply, answered))
                batch.counts["completed" if answered else "failed"] += 1
            batch.lines = lines
        return True

    @staticmethod
    def _draw(custom_id: str) -> float:
        return int(hashlib.sha256(custom_id.encode()).hexdigest()[:12], 16) / 16**12

    @abstractmethod
    def _line(self, custom_id: str, body: dict[str, Any], reply: WireReply, answered: bool) -> dict[str, Any]:
        """One item's line in the results."""

    def _created(self, handler: Any, batch: _Batch) -> None:
        """Answer a create: the batch, or (losing the answer) a 500 although the batch exists."""
        with self._lock:
            lost = self.lose_create_answers > 0
            self.lose_create_answers -= lost
        if lost:
            _json(handler, self._lost_answer(), 500)
        else:
            _json(handler, self._render(batch))

    @abstractmethod
    def _lost_answer(self) -> dict[str, Any]:
        """A 500's body in the provider's error shape."""

    def _lookup(self, batch_id: str) -> _Batch | None:
        with self._lock:
            return self._batches.get(batch_id)

    def _page(self, handler: Any, after_key: str) -> dict[str, Any]:
        """One page of the batch list, newest first, after the cursor batch id (`after` / `after_id`)."""
        query = parse_qs(urlsplit(handler.path).query)
        limit = int(query.get("limit", ["20"])[0])
        with self._lock:
            newest_first = list(reversed(self._batches.values()))
        after = query.get(after_key, [None])[0]
        if after is not None:
            position = next((i for i, batch in enumerate(newest_first) if batch.id == after), len(newest_first))
            newest_first = newest_first[position + 1:]
        page = newest_first[:limit]
        return {"data": [self._render(batch) for batch in page], "has_more": len(newest_first) > limit,
                "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None}

    def _polled(self, batch: _Batch) -> dict[str, Any]:
        with self._lock:
            self.polls[batch.id] += 1
        return self._render(batch)

    @abstractmethod
    def _render(self, batch: _Batch) -> dict[str, Any]:
        """The batch object as the provider returns it."""


def _answered(line: dict[str, Any]) -> bool:
    return line["error"] is None and line["response"]["status_code"] == 200


class OpenAIBatches(BatchEndpoints):
    """`POST /v1/files` (multipart, purpose batch), `POST /v1/batches` (its `metadata` echoed back),
    `GET /v1/batches` (newest first, `limit` and `after`), `GET /v1/batches/{id}`, `GET /v1/files/{id}/content`.
    Output and error files are created when the batch completes."""

    endpoint = "/v1/chat/completions"

    def __init__(self, server: WireServer, completion_delay_s: float = 0.0, failure_share: float = 0.0):
        super().__init__(server, completion_delay_s, failure_share)
        self._files: dict[str, bytes] = {}

    def serve(self, handler: Any) -> bool:
        path = handler.path.split("?", 1)[0]
        parts = path.strip("/").split("/")
        if handler.command == "POST" and path == "/v1/files":
            self._upload(handler)
        elif handler.command == "POST" and path == "/v1/batches":
            self._create(handler)
        elif handler.command == "GET" and path == "/v1/batches":
            _json(handler, {"object": "list", **self._page(handler, "after")})
        elif handler.command == "GET" and len(parts) == 3 and parts[1] == "batches":
            self._retrieve(handler, parts[2])
        elif handler.command == "GET" and len(parts) == 4 and parts[1] == "files" and parts[3] == "content":
            self._content(handler, parts[2])
        else:
            return False
        return True

    def _upload(self, handler: Any) -> None:
        raw = self._read(handler)
        message = BytesParser(policy=HTTP).parsebytes(
            f"content-type: {handler.headers.get('content-type')}\r\n\r\n".encode() + raw)
        content = next((part.get_payload(decode=True) for part in message.iter_parts()
                        if part.get_param("name", header="content-disposition") == "file"), b"")
        file_id = self._store_file(content)
        _json(handler, {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                        "filename": "batch.jsonl", "purpose": "batch", "status": "processed"})

    def _store_file(self, content: bytes) -> str:
        with self._lock:
            file_id = f"file-{len(self._files) + 1:06d}"
            self._files[file_id] = content
        return file_id

    def _create(self, handler: Any) -> None:
        request = json.loads(self._read(handler) or b"{}")
        with self._lock:
            content = self._files.get(request.get("input_file_id", ""))
        if content is None:
            _json(handler, {"error": {"message": "no such file", "type": "invalid_request_error"}}, 404)
            return
        items = [(entry["custom_id"], entry["body"]) for entry in map(json.loads, content.decode().splitlines())
                 if entry]
        batch = self._new_batch(handler, "batch_", items)
        batch.input_file_id = request["input_file_id"]
        batch.metadata = request.get("metadata")
        self._created(handler, batch)

    def _lost_answer(self) -> dict[str, Any]:
        return {"error": {"message": "internal error", "type": "server_error"}}

    def _retrieve(self, handler: Any, batch_id: str) -> None:
        batch = self._lookup(batch_id)
        if batch is None:
            _json(handler, {"error": {"message": f"no batch {batch_id}", "type": "invalid_request_error"}}, 404)
            return
        _json(handler, self._polled(batch))

    def _content(self, handler: Any, file_id: str) -> None:
        with self._lock:
            content = self._files.get(file_id)
        if content is None:
            _json(handler, {"error": {"message": f"no file {file_id}", "type": "invalid_request_error"}}, 404)
            return
        _write(handler, 200, content, "application/octet-stream")

    def _render(self, batch: _Batch) -> dict[str, Any]:
        ended = self._ended(batch)
        rendered: dict[str, Any] = {
            "id": batch.id, "object": "batch", "endpoint": self.endpoint, "completion_window": "24h",
            "input_file_id": batch.input_file_id, "created_at": int(batch.created_at), "metadata": batch.metadata,
            "status": "completed" if ended else "in_progress",
            "request_counts": {"total": len(batch.items), "completed": batch.counts["completed"],
                               "failed": batch.counts["failed"]}}
        if ended:
            with self._lock:
                if not batch.files_made:
                    lines = batch.lines or []
                    batch.output_file_id = self._files_for([line for line in lines if _answered(line)])
                    batch.error_file_id = self._files_for([line for line in lines if not _answered(line)])
                    batch.files_made = True
            rendered.update(output_file_id=batch.output_file_id, error_file_id=batch.error_file_id,
                            completed_at=int(batch.created_at + self.completion_delay_s))
        return rendered

    def _files_for(self, lines: list[dict[str, Any]]) -> str | None:
        if not lines:
            return None
        file_id = f"file-{len(self._files) + 1:06d}"  # under the lock held by the caller
        self._files[file_id] = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
        return file_id

    def _line(self, custom_id: str, body: dict[str, Any], reply: WireReply, answered: bool) -> dict[str, Any]:
        rendered = (self.server.render_success(reply, body, 0, _wire_size(body)) if answered
                    else self.server.render_error(reply))
        return {"id": f"batch_req_{custom_id[:16]}", "custom_id": custom_id, "error": None,
                "response": {"status_code": reply.status if not answered else 200,
                             "request_id": f"req_{custom_id[:16]}", "body": rendered}}


class AnthropicBatches(BatchEndpoints):
    """`POST /v1/messages/batches`, `GET /v1/messages/batches` (newest first, `limit` and `after_id`),
    `GET /v1/messages/batches/{id}` and its `results_url`."""

    endpoint = "/v1/messages"

    def __init__(self, server: WireServer, completion_delay_s: float = 0.0, failure_share: float = 0.0,
                 failed_result: AnthropicFailure = "errored"):
        super().__init__(server, completion_delay_s, failure_share)
        self.failed_result = failed_result

    def serve(self, handler: Any) -> bool:
        path = handler.path.split("?", 1)[0]
        parts = path.strip("/").split("/")
        if handler.command == "POST" and path == "/v1/messages/batches":
            request = json.loads(self._read(handler) or b"{}")
            batch = self._new_batch(handler, "msgbatch_",
                                    [(item["custom_id"], item["params"]) for item in request["requests"]])
            self._created(handler, batch)
        elif handler.command == "GET" and path == "/v1/messages/batches":
            _json(handler, self._page(handler, "after_id"))
        elif handler.command == "GET" and len(parts) in (4, 5) and parts[:3] == ["v1", "messages", "batches"]:
            batch = self._lookup(parts[3])
            if batch is None:
                _json(handler, {"type": "error", "error": {"type": "not_found_error",
                                                           "message": f"no batch {parts[3]}"}}, 404)
            elif len(parts) == 4:
                _json(handler, self._polled(batch))
            else:
                self._ended(batch)
                _write(handler, 200, "".join(json.dumps(line, ensure_ascii=False) + "\n"
                                             for line in batch.lines or []).encode(), "application/binary")
        else:
            return False
        return True

    def _lost_answer(self) -> dict[str, Any]:
        return {"type": "error", "error": {"type": "api_error", "message": "internal error"}}

    def _render(self, batch: _Batch) -> dict[str, Any]:
        ended = self._ended(batch)
        counts = {"processing": 0 if ended else len(batch.items), "succeeded": batch.counts["completed"],
                  "errored": batch.counts["failed"] if self.failed_result == "errored" else 0,
                  "canceled": 0, "expired": batch.counts["failed"] if self.failed_result == "expired" else 0}
        return {"id": batch.id, "type": "message_batch", "processing_status": "ended" if ended else "in_progress",
                "request_counts": counts, "created_at": _rfc3339(batch.created_at),
                "expires_at": _rfc3339((datetime.fromtimestamp(batch.created_at, UTC) + timedelta(days=1)).timestamp()),
                "ended_at": _rfc3339(batch.created_at + self.completion_delay_s) if ended else None,
                "archived_at": None, "cancel_initiated_at": None,
                "results_url": f"{self.server.root_url}/v1/messages/batches/{batch.id}/results" if ended else None}

    def _line(self, custom_id: str, body: dict[str, Any], reply: WireReply, answered: bool) -> dict[str, Any]:
        if answered:
            message = self.server.render_success(reply, body, 0, _wire_size(body))
            return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}
        if self.failed_result == "expired":
            return {"custom_id": custom_id, "result": {"type": "expired"}}
        return {"custom_id": custom_id, "result": {"type": "errored", "error": self.server.render_error(reply)}}


def mount_batches(server: WireServer, *, completion_delay_s: float = 0.0, failure_share: float = 0.0,
                  anthropic_failed_result: AnthropicFailure = "errored") -> BatchEndpoints:
    """Serve the batch endpoints of the server's wire format from now on; returns them (tests read them)."""
    endpoints: BatchEndpoints
    if isinstance(server, OpenAIWireServer):
        endpoints = OpenAIBatches(server, completion_delay_s, failure_share)
    elif isinstance(server, AnthropicWireServer):
        endpoints = AnthropicBatches(server, completion_delay_s, failure_share, anthropic_failed_result)
    else:
        raise TypeError(f"no batch API for {type(server).__name__}")
    server.batch_endpoints = endpoints
    return endpoints
