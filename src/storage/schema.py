"""The user database's schema (the editor's tables plus export_jobs) and its migrations.

`PRAGMA user_version` says which version a database has; `migrate` brings any older one to the
current version in place, step by step, so a blob written by an older release keeps its rows.
Version 1 is the editor's original schema; version 2 adds export_jobs and ties final videos to
the export that made them.
"""

from __future__ import annotations

import sqlite3

V1 = [
    """CREATE TABLE IF NOT EXISTS games (
        id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, video_path TEXT, thumbnail_path TEXT,
        duration REAL, fps REAL, width INTEGER, height INTEGER, opponent_name TEXT, game_date TEXT,
        game_type TEXT DEFAULT 'away', tournament_name TEXT,
        created_at TEXT DEFAULT (datetime('now')), updated_at TEXT DEFAULT (datetime('now')))""",
    """CREATE TABLE IF NOT EXISTS raw_clips (
        id INTEGER PRIMARY KEY AUTOINCREMENT, game_id INTEGER NOT NULL, video_path TEXT NOT NULL,
        start_time REAL NOT NULL, end_time REAL NOT NULL, rating INTEGER DEFAULT 3, tags TEXT DEFAULT '[]',
        notes TEXT, thumbnail_path TEXT, created_at TEXT DEFAULT (datetime('now')),
        FOREIGN KEY (game_id) REFERENCES games(id) ON DELETE CASCADE)""",
    """CREATE TABLE IF NOT EXISTS projects (
        id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, aspect_ratio TEXT DEFAULT '9:16',
        output_width INTEGER DEFAULT 1080, output_height INTEGER DEFAULT 1920, is_auto_created INTEGER DEFAULT 0,
        working_video_path TEXT, has_working_video INTEGER DEFAULT 0, has_overlay_edits INTEGER DEFAULT 0,
        has_final_video INTEGER DEFAULT 0, created_at TEXT DEFAULT (datetime('now')),
        updated_at TEXT DEFAULT (datetime('now')), last_opened_at TEXT)""",
    """CREATE TABLE IF NOT EXISTS working_clips (
        id INTEGER PRIMARY KEY AUTOINCREMENT, project_id INTEGER NOT NULL, raw_clip_id INTEGER NOT NULL,
        clip_index INTEGER NOT NULL, crop_keyframes TEXT DEFAULT '[]', is_exported INTEGER DEFAULT 0,
        exported_path TEXT, created_at TEXT DEFAULT (datetime('now')),
        FOREIGN KEY (project_id) REFERENCES projects(id) ON DELETE CASCADE,
        FOREIGN KEY (raw_clip_id) REFERENCES raw_clips(id))""",
    """CREATE TABLE IF NOT EXISTS highlight_regions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, project_id INTEGER NOT NULL, start_frame INTEGER NOT NULL,
        end_frame INTEGER NOT NULL, x REAL NOT NULL, y REAL NOT NULL, radius_x REAL NOT NULL,
        radius_y REAL NOT NULL, opacity REAL DEFAULT 1.0, color TEXT DEFAULT '#ffffff',
        created_at TEXT DEFAULT (datetime('now')),
        FOREIGN KEY (project_id) REFERENCES projects(id) ON DELETE CASCADE)""",
    """CREATE TABLE IF NOT EXISTS final_videos (
        id INTEGER PRIMARY KEY AUTOINCREMENT, project_id INTEGER, game_id INTEGER, name TEXT NOT NULL,
        video_path TEXT NOT NULL, thumbnail_path TEXT, source_type TEXT NOT NULL, duration REAL,
        file_size INTEGER, created_at TEXT DEFAULT (datetime('now')),
        FOREIGN KEY (project_id) REFERENCES projects(id) ON DELETE SET NULL,
        FOREIGN KEY (game_id) REFERENCES games(id) ON DELETE SET NULL)""",
]

V2 = [
    # No foreign key to projects: a job may name a project this database has not synced yet.
    """CREATE TABLE IF NOT EXISTS export_jobs (
        id TEXT PRIMARY KEY, project_id INTEGER, game_id INTEGER, type TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending', progress INTEGER DEFAULT 0, input_key TEXT, output_key TEXT,
        runpod_job_id TEXT, error TEXT, created_at TEXT DEFAULT (datetime('now')), updated_at TEXT,
        completed_at TEXT)""",
    "CREATE INDEX IF NOT EXISTS export_jobs_created ON export_jobs (created_at DESC)",
    "ALTER TABLE final_videos ADD COLUMN export_job_id TEXT",
    "CREATE UNIQUE INDEX IF NOT EXISTS final_videos_export_job ON final_videos (export_job_id)",
]

MIGRATIONS = {1: V1, 2: V2}
CURRENT_VERSION = max(MIGRATIONS)


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def version(conn: sqlite3.Connection) -> int:
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    # The seed wrote its tables without setting user_version: such a database is version 1.
    if found == 0 and _has_table(conn, "games"):
        return 1
    return found


def migrate(conn: sqlite3.Connection) -> bool:
    """Bring the database to CURRENT_VERSION; True when anything changed."""
    start = version(conn)
    if start > CURRENT_VERSION:
        raise ValueError(f"database schema version {start} is newer than this service ({CURRENT_VERSION})")
    for step in range(start + 1, CURRENT_VERSION + 1):
        for statement in MIGRATIONS[step]:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {step}")
    conn.commit()
    return start != CURRENT_VERSION
