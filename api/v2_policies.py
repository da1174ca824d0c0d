"""v2 policies: CRUD, lint, dry-run, apply (exactly the dry-run's plan) and effective policy."""

from __future__ import annotations

from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, HTTPException, Path, Response
from novacron.api import placing
from novacron.api.auth import AUTH_RESPONSES, admin, viewer
from novacron.api.deps import DB
from novacron.api.policies_store import objects, policy_set, stored_policies
from novacron.api.schemas import DryRunIn, PolicyIn, PolicyYaml
from novacron.policy import Policy, StalePlanError, Topology, apply_plan, lint, lint_text, plan
from novacron.store import fleet
from pydantic import ValidationError

router = APIRouter(prefix="/v2/policies", tags=["v2 policies"], responses={**AUTH_RESPONSES})
Name = Annotated[str, Path(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such policy or VM"}}


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _topology(session: DB) -> Topology:
    state = placing.fleet_state(session)
    return Topology(hosts=state.n_hosts, numa=int(state.cell_valid.sum()),
                    racks=len(state.rack_names), zones=len(state.zone_names))


@router.get("", dependencies=[Depends(viewer)])
def list_policies(session: DB) -> list[dict[str, Any]]:
    return [{"name": p.name, "priority": p.priority, "spec": p.spec, "source": p.source,
             "updated_at": p.updated_at.isoformat()} for p in fleet.policies(session)]


@router.get("/effective/{vm_id}", dependencies=[Depends(viewer)], responses={**NOT_FOUND})
def effective(session: DB, vm_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")]
              ) -> dict[str, Any]:
    """Every effective field for the VM, with the policy (file, line) it came from."""
    vm = fleet.vm(session, vm_id)
    if vm is None:
        raise HTTPException(404, f"no VM {vm_id}")
    eff = policy_set(session).effective({str(k): str(v) for k, v in vm.labels.items()},
                                        [str(t) for t in vm.tags])
    return {"vm_id": vm_id, "matched": list(eff.matched), "problems": list(eff.problems),
            "fields": {p: {"value": s.value, "origin": s.origin, "policy": s.policy, "file": s.file,
                           "line": s.line, "overridden": list(s.overridden)}
                       for p, s in eff.fields.items()}}


@router.get("/{name}", dependencies=[Depends(viewer)], responses={**NOT_FOUND})
def get_policy(session: DB, name: Name) -> dict[str, Any]:
    p = fleet.policy(session, name)
    if p is None:
        raise HTTPException(404, f"no policy {name}")
    return {"name": p.name, "priority": p.priority, "spec": p.spec, "source": p.source,
            "updated_at": p.updated_at.isoformat()}


@router.put("/{name}", dependencies=[Depends(admin)],
            responses={201: {"description": "Created"}, 200: {"description": "Replaced"}})
def put_policy(session: DB, name: Name, body: PolicyIn, response: Response) -> dict[str, Any]:
    if _has_nul(body.spec):
        raise HTTPException(422, "the policy contains a NUL character")
    try:
        policy = Policy.model_validate(body.spec)
    except ValidationError as exc:
        raise HTTPException(422, [{"loc": ["body", "spec", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                                  for e in exc.errors(include_url=False, include_input=False)]) from None
    if policy.name != name:
        raise HTTPException(422, f"spec.name is {policy.name!r} but the URL names {name!r}")
    created = fleet.upsert_policy(session, name, policy.priority, body.spec, body.source)
    response.status_code = 201 if created else 200
    return {"name": name, "created": created}


@router.delete("/{name}", status_code=204, dependencies=[Depends(admin)], responses={**NOT_FOUND})
def delete_policy(session: DB, name: Name) -> Response:
    if not fleet.delete_policy(session, name):
        raise HTTPException(404, f"no policy {name}")
    return Response(status_code=204)


@router.post("/lint", dependencies=[Depends(viewer)])
def lint_policies(session: DB, body: PolicyYaml) -> dict[str, Any]:
    """Lint YAML (file ``<request>``) or the stored set, against the stored fleet's topology."""
    topo = _topology(session)
    try:
        report = (lint_text(body.yaml, "<request>", topo) if body.yaml is not None
                  else lint(stored_policies(session), topo))
    except yaml.YAMLError as exc:  # e.g. control characters, refused before any parsing
        raise HTTPException(422, f"the YAML cannot be read: {exc}") from None
    return {"ok": report.ok, "findings": [
        {"code": f.code, "severity": f.severity, "file": f.file, "line": f.line, "field": f.field,
         "message": f.message, "policies": list(f.policies), "text": str(f)} for f in report.findings]}


@router.post("/dry-run", dependencies=[Depends(viewer)])
def dry_run(session: DB, body: DryRunIn) -> dict[str, Any]:
    """What applying the stored policies would change, VM by VM, field by field, and why."""
    return plan(objects(session, body.vm_ids), stored_policies(session)).to_dict()


@router.post("/apply", dependencies=[Depends(admin)], responses={409: {"description": "Stale plan"}})
def apply(session: DB, body: DryRunIn) -> dict[str, Any]:
    """Make the dry-run's plan so: the same ``plan`` call, then ``apply_plan`` on it."""
    objs = objects(session, body.vm_ids)
    the_plan = plan(objs, stored_policies(session))
    try:
        applied = apply_plan(objs, the_plan)
    except StalePlanError as exc:
        raise HTTPException(409, str(exc)) from None
    changed = {o.object_id for o in the_plan.objects if o.changes}
    for obj in applied:
        if obj.id in changed:
            fleet.set_policy_settings(session, obj.id, dict(obj.settings))
    return {**the_plan.to_dict(), "applied_objects": len(changed)}
