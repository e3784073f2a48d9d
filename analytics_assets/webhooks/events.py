"""What a webhook delivery holds, validated: the workflow, the job and the event's kind.

The API's body has no event id or type: `uid` names the webhook, not the delivery, and the
kind follows from `message` and `error`. So an event is identified by (job uid, kind).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Observation metadata keys (the sensor reads them back; the UI shows them on the partition).
EVENT_METADATA = "webhook_event"
JOB_METADATA = "job_uid"
MESSAGE_METADATA = "message"
ERROR_METADATA = "error"
STARTED, SUCCEEDED, FAILED = "started", "succeeded", "failed"
KINDS = (STARTED, SUCCEEDED, FAILED)

MAX_BODY_BYTES = 64 * 1024
UID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# A message or error longer than this is cut: it is shown, not parsed.
MAX_TEXT = 2000


class Rejected(Exception):
    """A delivery refused with an HTTP status; `reason` never quotes the body."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class WebhookEvent:
    workflow_uid: str
    job_uid: str
    kind: str
    message: str | None = None
    error: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the event across deliveries."""
        return self.job_uid, self.kind

    def metadata(self) -> dict[str, str]:
        """The observation's metadata: text only, nothing unvalidated beyond two cut texts."""
        values = {JOB_METADATA: self.job_uid, EVENT_METADATA: self.kind}
        values[MESSAGE_METADATA] = self.message or ""
        values[ERROR_METADATA] = self.error or ""
        return values


def event_kind(message: str | None, error: str | None) -> str:
    """started / succeeded / failed, as far as the message and error tell."""
    text = (message or "").lower()
    if error or "fail" in text:
        return FAILED
    if "finished" in text or "succe" in text:
        return SUCCEEDED
    return STARTED


def _uid(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        raise Rejected(422, f"{name} is missing")
    if not isinstance(value, str):
        raise Rejected(422, f"{name} must be a string")
    if not UID_PATTERN.match(value):
        raise Rejected(422, f"{name} must be 1-64 letters, digits, '-' or '_'")
    return value


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value[:MAX_TEXT] if isinstance(value, str) and value else None


def parse_event(raw: bytes) -> WebhookEvent:
    """The event of one delivery's body, or Rejected (400 not a JSON object, 422 no usable
    workflow_uid or job_uid)."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise Rejected(400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise Rejected(400, "the body is not a JSON object")
    workflow_uid, job_uid = _uid(body, "workflow_uid"), _uid(body, "job_uid")
    message, error = _text(body, "message"), _text(body, "error")
    return WebhookEvent(workflow_uid, job_uid, event_kind(message, error), message, error)


def event_of(metadata: Mapping[str, Any], partition: str | None) -> WebhookEvent | None:
    """The event an observation recorded (None: not one of ours)."""

    def text(name: str) -> str:
        value = metadata.get(name)
        return str(getattr(value, "value", value) or "")

    kind, job_uid = text(EVENT_METADATA), text(JOB_METADATA)
    if kind not in KINDS or not job_uid or not partition:
        return None
    return WebhookEvent(partition, job_uid, kind, text(MESSAGE_METADATA), text(ERROR_METADATA))
