"""A real warehouse file built from rows (migrations applied, partitions written through `Warehouse`):
attempts that fail at known stages, an LLM request log and funnel rows, several MB so that it spans
many DuckDB blocks; and ways to damage one on purpose. Shared by the warehouse and CLI tests and the
operations benchmark."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from apigen_pipeline.warehouse import PartitionWrite, Warehouse

FUNNEL = ("contexts", "blueprint_attempts", "accepted_blueprints", "kept_blueprints", "trajectory_attempts",
          "verified_attempts", "policy_clean_attempts", "kept_trajectories", "dataset_rows")


def noise(seed: str, length: int) -> str:
    """Text that does not compress, so the file really spans blocks."""
    chunks, counter = [], 0
    while sum(map(len, chunks)) < length:
        chunks.append(hashlib.sha256(f"{seed}/{counter}".encode()).hexdigest())
        counter += 1
    return "".join(chunks)[:length]


def lineage(domain: str, batch: str, run_id: str) -> dict:
    return {"domain": domain, "batch": batch, "run_id": run_id, "config_hash": "cfg",
            "materialized_at": pd.Timestamp("2026-11-20 01:00")}


def blueprint_attempts(domain: str, batch: str, run_id: str, payload_chars: int) -> pd.DataFrame:
    outcomes = [("accepted", None, None), ("revised", "execution", "tool_error"),
                ("rejected", "committee", "correctness_vote_failed"), ("revised", "format", "invalid_json")]
    rows = []
    for index in range(40):
        status, stage, reason = outcomes[index % len(outcomes)]
        rows.append({**lineage(domain, batch, run_id), "attempt_id": f"{domain}-{batch}-a{index}",
                     "context_id": f"ctx-{index}", "kind": "simple", "round": 1 + index % 2, "status": status,
                     "failure_stage": stage, "failure_reason": reason,
                     "instruction": noise(f"{domain}{batch}{index}", payload_chars)})
    return pd.DataFrame(rows)


def trajectory_attempts(domain: str, batch: str, run_id: str) -> pd.DataFrame:
    outcomes = [("verified", None, True, None), ("failed", "state_mismatch", False, None),
                ("verified", None, False, "duplicate")]
    return pd.DataFrame([{**lineage(domain, batch, run_id), "trajectory_id": f"{domain}-{batch}-t{index}",
                          "blueprint_id": f"bp-{index}", "attempt_index": 0, "end_reason": "user_stop",
                          "verdict": verdict, "failure_reason": reason, "kept": kept, "drop_reason": drop}
                         for index, (verdict, reason, kept, drop) in enumerate(outcomes * 4)])


def llm_requests(domain: str, batch: str, run_id: str, created_at: datetime, payload_chars: int) -> pd.DataFrame:
    return pd.DataFrame([{"domain": domain, "batch": batch, "run_id": run_id, "entry_id": f"{run_id}-{index}",
                          "request_key": f"{domain}-{batch}-k{index}", "role": "generator", "provider": "openai",
                          "model": "gpt-4o", "status": "answered", "input_tokens": 1000, "output_tokens": 200,
                          "cost_usd": 0.01, "projected_cost_usd": 0.02, "created_at": created_at,
                          "request_json": noise(f"req{domain}{batch}{index}", payload_chars)}
                         for index in range(30)])


def generation_report(domain: str, batch: str, run_id: str) -> pd.DataFrame:
    counts = [4, 8, 3, 3, 6, 4, 4, 3, 3]
    previous = None
    rows = []
    for order, (stage, count) in enumerate(zip(FUNNEL, counts, strict=True)):
        rows.append({**lineage(domain, batch, run_id), "stage": stage, "stage_order": order, "count": count,
                     "yield_from_previous": round(count / previous, 4) if previous else None,
                     "cost_usd": 0.3, "projected_cost_usd": 0.6, "verified_trajectories": 3})
        previous = count
    return pd.DataFrame(rows)


def build_warehouse(path: Path, partitions: tuple[tuple[str, str], ...] = (("retail", "2026-11-20"),
                                                                           ("airline", "2026-11-20"),
                                                                           ("retail", "2026-11-21")),
                    payload_chars: int = 20_000, created_at: datetime | None = None) -> Warehouse:
    warehouse = Warehouse(path)
    warehouse.migrate()
    created_at = created_at or datetime.now(UTC).replace(tzinfo=None)
    for domain, batch in partitions:
        run_id = f"run-{domain}-{batch}"
        warehouse.replace_partition(domain, batch, [
            PartitionWrite("blueprint_attempts", blueprint_attempts(domain, batch, run_id, payload_chars)),
            PartitionWrite("trajectory_attempts", trajectory_attempts(domain, batch, run_id)),
            PartitionWrite("llm_requests", llm_requests(domain, batch, run_id, created_at, payload_chars)),
            PartitionWrite("generation_report", generation_report(domain, batch, run_id)),
        ])
    return warehouse


# -- damaging a file on purpose -------------------------------------------------------------------
# DuckDB 1.5's file layout (single_file_block_manager.cpp): three 4 KiB headers, then fixed-size blocks.
HEADERS_BYTES = 3 * 4096


def block_offsets(path: Path) -> list[int]:
    """Byte offset of every block of the file, the middle one first."""
    with duckdb.connect(str(path), read_only=True) as con:
        block_size, blocks = con.execute("SELECT block_size, total_blocks FROM pragma_database_size()").fetchone()
    middle = path.stat().st_size // 2
    return sorted((HEADERS_BYTES + block * block_size for block in range(blocks)), key=lambda o: abs(o - middle))


def duckdb_opens_but_cannot_read_every_table(path: Path) -> bool:
    """Plain DuckDB, independent of the code under test: the file opens (so a writer could start
    writing), but some rows cannot be read."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return False
    try:
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            con.execute(f'SELECT * FROM "{table}"').fetchall()
    except duckdb.Error:
        return True
    finally:
        con.close()
    return False


def flip_bytes(path: Path, offset: int, count: int = 4096) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        original = handle.read(count)
        handle.seek(offset)
        handle.write(bytes(b ^ 0xFF for b in original))


def middle_data_block(path: Path, trial: Path) -> int:
    """The offset of the block nearest the middle of the file whose damage DuckDB only notices when it
    reads the rows: not a free block (its bytes are never read), not a metadata block (damage there
    fails the open by itself). Found by damaging a copy (`trial`) block by block."""
    for offset in block_offsets(path):
        shutil.copy(path, trial)
        flip_bytes(trial, offset + 4096)
        if duckdb_opens_but_cannot_read_every_table(trial):
            trial.unlink()
            return offset
    raise AssertionError(f"no block of {path} holds row data")
