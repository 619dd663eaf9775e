"""The rows the store hands out: jobs, their inputs and results, admission outcomes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter

from bot.domain.failures import ErrorKind
from bot.domain.request import ImageRequest
from bot.store.sql import Row


class JobState(StrEnum):
    HELD = "held"
    SUBMITTED = "submitted"
    GENERATED = "generated"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


UNFINISHED = (JobState.HELD, JobState.SUBMITTED, JobState.GENERATED)
FINISHED = (JobState.DELIVERED, JobState.FAILED, JobState.CANCELLED)

JobKind = Literal["generate", "edit", "upscale"]


class ImageInput(BaseModel):
    """An image an edit starts from: an earlier result of ours, or a file a person shared."""

    model_config = ConfigDict(frozen=True)

    fal_url: str | None = None
    slack_file_id: str | None = None
    slack_url: str | None = None
    name: str = ""
    is_mask: bool = False
    # Its size, when known: an edit's output follows its input unless a size is asked for.
    width: int = 0
    height: int = 0


class ResultImage(BaseModel):
    """One picture fal made: where fal served it, and where we keep it until Slack has it."""

    model_config = ConfigDict(frozen=True)

    url: str
    content_type: str = "image/png"
    width: int = 0
    height: int = 0
    file_name: str = ""
    spool_path: str | None = None
    size: int = 0


_inputs = TypeAdapter(list[ImageInput])
_images = TypeAdapter(list[ResultImage])


def dump_inputs(inputs: list[ImageInput]) -> str:
    return _inputs.dump_json(inputs).decode()


def dump_images(images: list[ResultImage]) -> str:
    return _images.dump_json(images).decode()


@dataclass(frozen=True)
class NewJob:
    """What admission needs to write a job and its hold."""

    user_id: str
    channel_id: str
    kind: JobKind
    origin: str
    request: ImageRequest
    endpoint_id: str
    model: str
    estimate_micros: int
    team_id: str = ""
    thread_ts: str | None = None
    response_url: str | None = None
    inputs: list[ImageInput] = field(default_factory=list)
    parent_job_id: str | None = None
    source_key: str | None = None


@dataclass(frozen=True)
class Job:
    id: str
    team_id: str
    user_id: str
    channel_id: str
    thread_ts: str | None
    card_ts: str | None
    response_url: str | None
    kind: JobKind
    origin: str
    request: ImageRequest
    inputs: list[ImageInput]
    parent_job_id: str | None
    endpoint_id: str
    state: JobState
    fal_request_id: str | None
    fal_status_url: str | None
    fal_result_url: str | None
    fal_cancel_url: str | None
    images: list[ResultImage]
    billed_units: Decimal | None
    slack_file_ids: list[str]
    upload_started: bool
    card_done: bool
    error_kind: str | None
    error_message: str | None
    created_at: datetime
    submitted_at: datetime | None
    started_at: datetime | None
    generated_at: datetime | None
    finished_at: datetime | None
    estimate_micros: int = 0
    amount_micros: int = 0
    charge_status: str = ""
    charge_estimated: bool = False
    # A submit may have reached fal from this moment: look in fal's records before another.
    submit_sent_at: datetime | None = None
    # fal was asked to cancel (by this person; by nobody: the deadline).
    cancel_requested_at: datetime | None = None
    cancel_requested_by: str | None = None
    # Counted against the limits of jobs at fal since (until it leaves held and submitted).
    slot_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def charged_micros(self) -> int:
        """What the job costs the person now: its settled charge (0 while held or released)."""
        return self.amount_micros if self.charge_status == "settled" else 0

    @property
    def prompt(self) -> str:
        return self.request.prompt

    @property
    def failure(self) -> ErrorKind:
        """Why it ended without images (read from what the store keeps, old rows too)."""
        return ErrorKind.of(self.error_kind)


JOB_COLUMNS = """
    j.id, j.team_id, j.user_id, j.channel_id, j.thread_ts, j.card_ts, j.response_url, j.kind,
    j.origin, j.request_json, j.prompt, j.inputs_json, j.parent_job_id, j.endpoint_id, j.state,
    j.model,
    j.fal_request_id, j.fal_status_url, j.fal_result_url, j.fal_cancel_url, j.images_json,
    j.billed_units, j.slack_files_json, j.upload_started, j.card_done, j.error_kind,
    j.error_message,
    j.created_at, j.submitted_at, j.started_at, j.generated_at, j.finished_at,
    j.submit_sent_at, j.cancel_requested_at, j.cancel_requested_by, j.slot_at,
    c.estimate_micros, c.amount_micros, c.status AS charge_status, c.estimated
"""


def job_from_row(row: Row) -> Job:
    request = ImageRequest.model_validate_json(row["request_json"])
    # Retention may have blanked the stored prompt; the request JSON is blanked with it.
    # Requests stored before models were a choice carry no model: the column says which.
    request = request.model_copy(update={"prompt": row["prompt"], "model": row["model"]})
    return Job(
        id=row["id"],
        team_id=row["team_id"],
        user_id=row["user_id"],
        channel_id=row["channel_id"],
        thread_ts=row["thread_ts"],
        card_ts=row["card_ts"],
        response_url=row["response_url"],
        kind=row["kind"],
        origin=row["origin"],
        request=request,
        inputs=_inputs.validate_json(row["inputs_json"]),
        parent_job_id=row["parent_job_id"],
        endpoint_id=row["endpoint_id"],
        state=JobState(row["state"]),
        fal_request_id=row["fal_request_id"],
        fal_status_url=row["fal_status_url"],
        fal_result_url=row["fal_result_url"],
        fal_cancel_url=row["fal_cancel_url"],
        images=_images.validate_json(row["images_json"]),
        billed_units=Decimal(row["billed_units"]) if row["billed_units"] is not None else None,
        slack_file_ids=list(json.loads(row["slack_files_json"])),
        upload_started=bool(row["upload_started"]),
        card_done=bool(row["card_done"]),
        error_kind=row["error_kind"],
        error_message=row["error_message"],
        created_at=from_ms(row["created_at"]),
        submitted_at=from_ms_or_none(row["submitted_at"]),
        started_at=from_ms_or_none(row["started_at"]),
        generated_at=from_ms_or_none(row["generated_at"]),
        finished_at=from_ms_or_none(row["finished_at"]),
        estimate_micros=row["estimate_micros"] or 0,
        amount_micros=row["amount_micros"] or 0,
        charge_status=row["charge_status"] or "",
        charge_estimated=bool(row["estimated"]),
        submit_sent_at=from_ms_or_none(row["submit_sent_at"]),
        cancel_requested_at=from_ms_or_none(row["cancel_requested_at"]),
        cancel_requested_by=row["cancel_requested_by"],
        slot_at=from_ms_or_none(row["slot_at"]),
    )


def held_job(job_id: str, new: NewJob, now_ms: int) -> Job:
    """The job as admission just wrote it (so admission need not read it back)."""
    return Job(
        id=job_id, team_id=new.team_id, user_id=new.user_id, channel_id=new.channel_id,
        thread_ts=new.thread_ts, card_ts=None, response_url=new.response_url, kind=new.kind,
        origin=new.origin, request=new.request, inputs=list(new.inputs),
        parent_job_id=new.parent_job_id, endpoint_id=new.endpoint_id, state=JobState.HELD,
        fal_request_id=None, fal_status_url=None, fal_result_url=None, fal_cancel_url=None,
        images=[], billed_units=None, slack_file_ids=[], upload_started=False, card_done=False,
        error_kind=None, error_message=None, created_at=from_ms(now_ms), submitted_at=None,
        started_at=None, generated_at=None, finished_at=None,
        estimate_micros=new.estimate_micros, amount_micros=new.estimate_micros,
        charge_status="held",
    )  # fmt: skip


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def from_ms_or_none(ms: int | None) -> datetime | None:
    return None if ms is None else from_ms(ms)


@dataclass(frozen=True)
class Bill:
    """What an ended job is charged: fal's bill, or (`micros` None) its estimate, marked as
    one, when fal ran it but has not said what it billed."""

    micros: int | None
    units: Decimal | None = None

    @classmethod
    def estimate(cls) -> Bill:
        return cls(None)


@dataclass(frozen=True)
class Admitted:
    job: Job


@dataclass(frozen=True)
class Refused:
    """The hold would pass a budget: which one, its size, and what the month has used."""

    scope: Literal["user", "team"]
    budget_micros: int
    spent_micros: int
    estimate_micros: int

    @property
    def left_micros(self) -> int:
        return max(0, self.budget_micros - self.spent_micros)


@dataclass(frozen=True)
class Duplicate:
    """The same Slack delivery was admitted before (a retry, or an event seen twice)."""

    job_id: str


Admission = Admitted | Refused | Duplicate
