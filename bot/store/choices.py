"""The SQL of model choices: the workspace's and channels' default models, denied models, and
the styles admins define (a style's definition is JSON the requests layer reads)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.store.sql import Conn, read_all


@dataclass(frozen=True)
class ModelSettings:
    workspace: str | None = None
    channels: dict[str, str] = field(default_factory=dict)
    denied: frozenset[str] = frozenset()


@dataclass(frozen=True)
class StoredStyle:
    name: str
    model: str
    definition_json: str
    created_by: str


async def model_settings(db: Conn) -> ModelSettings:
    rows = await read_all(db, "SELECT scope, subject, model FROM model_settings", ())
    workspace = next((r["model"] for r in rows if r["scope"] == "workspace"), None)
    channels = {r["subject"]: r["model"] for r in rows if r["scope"] == "channel"}
    denied = frozenset(r["subject"] for r in rows if r["scope"] == "deny")
    return ModelSettings(workspace, channels, denied)


async def set_model(db: Conn, scope: str, subject: str, model: str, by: str, now: int) -> None:
    await db.execute(
        "INSERT INTO model_settings (scope, subject, model, updated_by, updated_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, subject) DO UPDATE SET"
        " model = excluded.model, updated_by = excluded.updated_by,"
        " updated_at = excluded.updated_at",
        (scope, subject, model, by, now),
    )


async def clear_model(db: Conn, scope: str, subject: str) -> None:
    await db.execute("DELETE FROM model_settings WHERE scope = ? AND subject = ?", (scope, subject))


async def save_style(db: Conn, style: StoredStyle, now: int) -> None:
    await db.execute(
        "INSERT INTO styles (name, model, definition_json, created_by, created_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET model = excluded.model,"
        " definition_json = excluded.definition_json, created_by = excluded.created_by,"
        " created_at = excluded.created_at",
        (style.name, style.model, style.definition_json, style.created_by, now),
    )


async def delete_style(db: Conn, name: str) -> bool:
    return await db.execute("DELETE FROM styles WHERE name = ?", (name,)) > 0


async def styles(db: Conn, name: str | None = None) -> list[StoredStyle]:
    where, args = (" WHERE name = ?", (name,)) if name is not None else ("", ())
    rows = await read_all(
        db,
        f"SELECT name, model, definition_json, created_by FROM styles{where} ORDER BY name",
        args,
    )
    return [StoredStyle(r["name"], r["model"], r["definition_json"], r["created_by"]) for r in rows]
