"""The VM and decision lists as JSON built by PostgreSQL, row by row, in the API's shape
(novacron.api.views.vm and .placement; tests hold the two equal). Python only joins the rows:
no ORM objects, no JSON decoding of the JSONB columns and re-encoding them."""

from __future__ import annotations

from novacron.store.aio import pool

from novacron.settings import get_settings


def _iso(col: str) -> str:
    """``datetime.isoformat()`` of a timestamptz, in UTC, as Python writes it (no fraction
    when the microseconds are 0)."""
    return (f"to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
            f"CASE WHEN date_part('microseconds', {col})::bigint %% 1000000 = 0 THEN '' "
            f"ELSE to_char({col} AT TIME ZONE 'UTC', '.US') END || '+00:00'")


_VM = f"""SELECT json_build_object('vm_id', vm_id, 'host_id', host_id, 'vcpus', vcpus,
  'memory_mib', memory_mib, 'labels', labels, 'tags', tags, 'state', state,
  'updated_at', {_iso('updated_at')}, 'desired_state', desired_state,
  'spec', coalesce(spec, '{{}}'::jsonb), 'numa_cells', coalesce(numa_cells, '[]'::jsonb)
  )::text FROM vms"""  # noqa: S608 (constants only)

_DECISION = f"""SELECT json_build_object('decision_id', decision_id, 'vm_id', vm_id,
  'status', coalesce(status, 'placed'), 'target_host', target_host, 'score', score,
  'explanation', explanation, 'alternatives', alternatives, 'policy', policy,
  'decided_at', {_iso('decided_at')}, 'detail', coalesce(detail, '{{}}'::jsonb),
  'applied', false, 'outcome', outcome)::text FROM placement_decisions"""  # noqa: S608 (constants only)


def _where(filters: dict[str, str | None]) -> tuple[str, list[object]]:
    """`` WHERE col = %s AND ...`` for the filters given (column names are ours, never input)."""
    given = [(col, value) for col, value in filters.items() if value is not None]
    if not given:
        return "", []
    return " WHERE " + " AND ".join(f"{col} = %s" for col, _ in given), [v for _, v in given]


def _array(rows: list[str]) -> bytes:
    return ("[" + ",".join(rows) + "]").encode()


async def vms(limit: int = 100, offset: int = 0, host_id: str | None = None,
              state: str | None = None) -> bytes:
    """A JSON array of VMs ordered by id, as ``GET /v1/vms`` answers."""
    where, params = _where({"host_id": host_id, "state": state})
    rows = await pool(get_settings().database_url).column(
        f"{_VM}{where} ORDER BY vm_id LIMIT %s OFFSET %s", [*params, limit, offset])
    return _array(rows)


async def placement_decisions(vm_id: str | None = None, status: str | None = None,
                              limit: int = 100) -> bytes:
    """A JSON array of placement decisions, newest first, as ``GET /v2/placements`` answers."""
    where, params = _where({"vm_id": vm_id, "status": status})
    rows = await pool(get_settings().database_url).column(
        f"{_DECISION}{where} ORDER BY decided_at DESC LIMIT %s", [*params, limit])
    return _array(rows)
