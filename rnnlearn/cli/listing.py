"""`rnnlearn list`: the tasks, models and learners with their parameters; for learners also what each class
declares (rnnlearn.listing)."""
from __future__ import annotations


def _learner_lines(cls) -> list[str]:
    from rnnlearn.listing import learner_facts
    f = learner_facts(cls)
    lr = "its own update (no learning rate)" if f["default_lr"] is None else f"{f['default_lr']:g}"
    cap = f"n <= {f['max_n']}" if f["max_n"] is not None else "none"
    return [f"{f['display_name']} ({f['reference']})",
            f"capabilities: {', '.join(f['capabilities']) or '(none)'}",
            f"default learning rate: {lr}",
            f"cost per step: time n^{f['time_exponent']:g}, memory n^{f['memory_exponent']:g}   "
            f"bench size cap: {cap}",
            f"parameters: {f['parameters'] or '(none)'}",
            f"trains: {', '.join(f['trains'])}"] + [f"not {kind}: {why}" for kind, why in f["refuses"].items()]


def run(args) -> int:
    from rnnlearn.listing import catalogue, describe_params, first_line
    for section, table in catalogue().items():
        if args.what not in (None, section):
            continue
        print(f"{section}:")
        for name, cls in sorted(table.items()):
            print(f"  {name:<14} {first_line(cls)}")
            lines = (_learner_lines(cls) if section == "learners"
                     else [f"parameters: {describe_params(cls) or '(none)'}"])
            for line in lines:
                print(f"  {'':<14} {line}")
        print()
    return 0


def add_parser(sub):
    p = sub.add_parser("list", help="show the tasks, models and learners with their parameters",
                       description="Show the tasks, models and learners with their parameters and defaults; for "
                                   "each learner also its display name, reference, capabilities, default "
                                   "learning rate, declared cost exponents and bench size cap.")
    p.add_argument("what", nargs="?", choices=["tasks", "models", "learners"], help="only this section")
    p.set_defaults(func=run)
