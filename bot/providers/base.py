"""What the runner needs from an image provider (fal, or the local mock), and its errors."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Protocol

from bot.domain.failures import ErrorKind
from bot.domain.request import ImageRequest
from bot.providers.catalog import Catalog
from bot.providers.profiles import EndpointKind
from bot.providers.profiles import JobKind as JobKind


class ProviderError(Exception):
    """A failure the runner reports to the person; `kind` names it in logs and the store."""

    kind = ErrorKind.PROVIDER
    retryable = False

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        # What fal billed for the failed attempt (`x-fal-billable-units` on the error answer).
        self.billed_units: Decimal | None = None


class InvalidInput(ProviderError):
    kind = ErrorKind.INVALID_INPUT


class ContentPolicy(ProviderError):
    kind = ErrorKind.CONTENT_POLICY

    def __init__(self, message: str, *, category: str = "", detail: str = "") -> None:
        super().__init__(message, detail=detail)
        self.category = category


class AccountLocked(ProviderError):
    """fal refuses the account: locked, out of balance, or the key is wrong."""

    kind = ErrorKind.ACCOUNT_LOCKED


class Unavailable(ProviderError):
    kind = ErrorKind.UNAVAILABLE
    retryable = True


class RequestLost(ProviderError):
    """fal no longer knows the request (expired or never stored)."""

    kind = ErrorKind.LOST


class Unconfirmed(ProviderError):
    """A submit's answer was lost and fal's records could not say whether it arrived."""

    kind = ErrorKind.UNCONFIRMED


@dataclass(frozen=True)
class Submission:
    """Where a submitted request lives; stored so a restart can pick it up."""

    request_id: str
    status_url: str
    result_url: str
    cancel_url: str


@dataclass(frozen=True)
class Queued:
    position: int


@dataclass(frozen=True)
class Running:
    logs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Finished:
    """fal is done with the request; `ran` when fal reports time its runner spent on it."""

    error: str | None = None
    error_type: str | None = None
    ran: bool = False


QueueState = Queued | Running | Finished


@dataclass(frozen=True)
class OutputImage:
    url: str
    content_type: str
    width: int
    height: int
    file_name: str


@dataclass(frozen=True)
class Generation:
    request_id: str
    images: list[OutputImage]
    billed_units: Decimal | None


CancelOutcome = Literal["requested", "too_late", "unknown"]


@dataclass(frozen=True)
class SubmitGuard:
    """What a submit needs to never leave fal a second request for one job.

    `since`: a submit for this job may have reached fal from this moment (an earlier attempt
    or process), so fal's records are looked at before sending again. `taken` says whether a
    request id already belongs to some job, so one job never adopts another's request.
    """

    since: datetime | None
    taken: Callable[[str], Awaitable[bool]]


class ImageProvider(Protocol):
    name: str
    catalog: Catalog

    def arguments(
        self,
        kind: EndpointKind,
        request: ImageRequest,
        image_urls: list[str],
        mask_url: str | None,
    ) -> dict[str, Any]: ...

    async def submit(
        self, endpoint_id: str, arguments: dict[str, Any], guard: SubmitGuard
    ) -> Submission: ...

    async def status(self, submission: Submission) -> QueueState: ...

    def watch(
        self, submission: Submission, expected_seconds: float | None
    ) -> AsyncGenerator[QueueState, None]:
        """Every status change until the request is finished (the last state is Finished)."""
        ...

    async def result(self, submission: Submission) -> Generation: ...

    async def bill(self, submission: Submission) -> Decimal | None:
        """The units fal billed for a request that ended without a result, if fal says."""
        ...

    async def cost_micros(self, endpoint_id: str, units: Decimal) -> int:
        """What `units` of an endpoint cost, at fal's unit price."""
        ...

    async def download(self, url: str, destination: Path) -> int: ...

    async def is_reachable(self, url: str) -> bool: ...

    async def cancel(self, submission: Submission) -> CancelOutcome:
        """Ask fal to cancel; only a later status says whether it stopped before running."""
        ...

    async def close(self) -> None: ...
