"""novacron.placement: where VMs go, and why.

Pure (numpy, OR-tools; no I/O). Entry points:

- `engine.Scheduler(FleetState(hosts, host_classes)).decide(PlacementRequest(...))` and
  `.decide_group(...)` (N replicas, all-or-nothing) -> explained `PlacementDecision`s;
- `registry.FILTERS` / `registry.SCORERS`: the plug-ins, `strategies.PRESETS`: the weights;
- `optimizer_plan.rebalance(state, ...)`: an ordered, executable migration plan;
- `optimizer.solve_lns` (bin problems) and `optimizer_roadef.solve` (machine reassignment).
"""
