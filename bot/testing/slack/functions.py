"""Custom steps for Workflow Builder, as the Slack stand-in plays them.

Each run of a step reaches the app as a `function_executed` event carrying the run's id
(`function_execution_id`) and a workflow token (`bot_access_token`, `xwfp-…`) that lives as long
as the run: the event's shape is bolt-python's own fixture (tests/scenario_tests_async/
test_function.py). The app ends the run with one of two methods
(docs.slack.dev/reference/methods/functions.completeSuccess and …/functions.completeError):

- `function_execution_id` (required) names the run: an unknown one is
  `function_execution_not_found`, one already ended `execution_not_in_running_state`;
- completeSuccess takes `outputs` (required), an object conforming to the step's output
  parameters in the manifest, else `parameter_validation_failed`; completeError takes `error`
  (required), the reason shown to the workflow's author;
- the token: Bolt calls both with the run's workflow token (slack_bolt's
  AttachingFunctionToken middleware puts it on the listener's client). Whether Slack also takes
  the app's bot token there is not documented, so the stand-in, being the stricter one, takes
  only the run's own token (`invalid_auth` otherwise, `not_authed` without one).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from bot.testing.slack.models import JSONDict
from bot.testing.slack.protocol import Answer

FUNCTION_METHODS = ("functions.completeSuccess", "functions.completeError")


@dataclass
class FunctionRun:
    """One run of a custom step, and how the app ended it."""

    execution_id: str
    token: str
    callback_id: str
    inputs: JSONDict
    outputs_declared: list[JSONDict]
    state: str = "running"  # "running", "completed" or "failed"
    outputs: JSONDict | None = None
    error: str | None = None
    answers: list[str] = field(default_factory=list)


class FunctionRuns:
    """The runs the stand-in has started (its lock held by the caller)."""

    def __init__(self) -> None:
        self.runs: dict[str, FunctionRun] = {}

    def start(
        self, callback_id: str, inputs: JSONDict, function: JSONDict, app_id: str
    ) -> JSONDict:
        """A new run; the `function_executed` event Slack would send for it."""
        run = FunctionRun(
            execution_id="Fx" + secrets.token_hex(5).upper(),
            token="xwfp-" + secrets.token_hex(12),
            callback_id=callback_id,
            inputs=inputs,
            outputs_declared=list(function.get("output_parameters") or []),
        )
        self.runs[run.execution_id] = run
        return {
            "type": "function_executed",
            "function": {"callback_id": callback_id, "type": "app", "app_id": app_id, **function},
            "inputs": inputs,
            "function_execution_id": run.execution_id,
            "workflow_execution_id": "Wx" + secrets.token_hex(5).upper(),
            "event_ts": "1659055013.509853",
            "bot_access_token": run.token,
        }

    def answer(self, method: str, args: JSONDict, token: str | None) -> Answer:
        if not token:
            return _error("not_authed")
        run = self.runs.get(str(args.get("function_execution_id") or ""))
        if run is None:
            return _error("function_execution_not_found")
        if token != run.token:
            return _error("invalid_auth")
        if run.state != "running":
            run.answers.append("execution_not_in_running_state")
            return _error("execution_not_in_running_state")
        if method == "functions.completeSuccess":
            return self._success(run, args.get("outputs"))
        reason = args.get("error")
        if not isinstance(reason, str) or not reason:
            return _error("invalid_arguments")
        run.state, run.error = "failed", reason
        run.answers.append("ok")
        return 200, {"ok": True}, {}

    def _success(self, run: FunctionRun, outputs: Any) -> Answer:
        if not isinstance(outputs, dict) or not _fits(outputs, run.outputs_declared):
            run.answers.append("parameter_validation_failed")
            return _error("parameter_validation_failed")
        run.state, run.outputs = "completed", outputs
        run.answers.append("ok")
        return 200, {"ok": True}, {}


def definition(manifest_entry: JSONDict) -> JSONDict:
    """A step as the event describes it, from its manifest entry (parameters keyed by name
    there, listed with their names in the event)."""
    listed = {
        key: [{"name": name, **spec} for name, spec in (manifest_entry.get(key) or {}).items()]
        for key in ("input_parameters", "output_parameters")
    }
    about = {key: manifest_entry[key] for key in ("title", "description") if key in manifest_entry}
    return about | listed


def _fits(outputs: JSONDict, declared: list[JSONDict]) -> bool:
    """Every required output there, nothing undeclared, strings where strings are declared."""
    names = {str(item.get("name")): item for item in declared}
    if set(outputs) - set(names):
        return False
    for name, item in names.items():
        if item.get("is_required") and outputs.get(name) in (None, ""):
            return False
        wrong_type = item.get("type") == "string" and not isinstance(outputs.get(name, ""), str)
        if wrong_type:
            return False
    return True


def _error(code: str) -> Answer:
    return 200, {"ok": False, "error": code}, {}
