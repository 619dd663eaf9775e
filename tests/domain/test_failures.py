"""Error kinds: what the store keeps for each, read back the same way, old rows included, and
the words the person is told for each."""

from __future__ import annotations

import pytest

from bot.domain.failures import ErrorKind, failure_text


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_every_kind_reads_back_from_what_the_store_keeps(kind: ErrorKind) -> None:
    assert ErrorKind.of(kind.stored("not_in_channel")) is kind


@pytest.mark.parametrize(
    ("stored", "kind"),
    [
        # Rows written before the kinds were an enum, as they are in databases today.
        ("slack_not_in_channel", ErrorKind.SLACK),
        ("slack_invalid_blocks", ErrorKind.SLACK),
        ("cancelled_after_start", ErrorKind.CANCELLED_AFTER_START),
        ("provider_error", ErrorKind.PROVIDER),
        ("a kind from a newer version", ErrorKind.INTERNAL),
        (None, ErrorKind.INTERNAL),
    ],
)
def test_old_and_unknown_stored_kinds_are_read(stored: str | None, kind: ErrorKind) -> None:
    assert ErrorKind.of(stored) is kind


def test_slack_refusals_keep_slacks_code_in_the_store_as_before() -> None:
    assert ErrorKind.SLACK.stored("is_archived") == "slack_is_archived"
    assert ErrorKind.TIMEOUT.stored("ignored") == "timeout"


def test_each_kind_has_its_own_words() -> None:
    texts = {kind: failure_text(kind, "", "j1") for kind in ErrorKind}
    assert "archived" in failure_text(ErrorKind.SLACK, "is_archived", "j1")
    assert "declined this prompt" in texts[ErrorKind.CONTENT_POLICY]
    assert "on our side (job j1)" in texts[ErrorKind.INTERNAL]
    assert texts[ErrorKind.PROVIDER] == texts[ErrorKind.INTERNAL]
    shared = {ErrorKind.INTERNAL, ErrorKind.PROVIDER, ErrorKind.PLATFORM}
    shared |= {ErrorKind.CANCELLED, ErrorKind.CANCELLED_AFTER_START}
    distinct = {kind: text for kind, text in texts.items() if kind not in shared}
    assert len(set(distinct.values())) == len(distinct)
