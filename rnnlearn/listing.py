"""`rnnlearn list`: the tasks, models and learners, with their parameters and defaults."""
from __future__ import annotations

import dataclasses
import inspect


def describe_params(cls) -> str:
    """'name=default, ...' from a dataclass's fields or a constructor's signature."""
    if dataclasses.is_dataclass(cls):
        items = [(f.name, f.default) for f in dataclasses.fields(cls)]
    else:
        sig = inspect.signature(cls.__init__)
        items = [(p.name, p.default) for p in list(sig.parameters.values())[1:]
                 if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return ", ".join(k if v is inspect.Parameter.empty or v is dataclasses.MISSING else f"{k}={v!r}"
                     for k, v in items)


def first_line(obj) -> str:
    return (inspect.getdoc(obj) or "").strip().splitlines()[0] if inspect.getdoc(obj) else ""


def catalogue() -> dict[str, dict[str, type]]:
    from .algorithms import LEARNERS
    from .models import MODELS
    from .tasks import TASKS
    return {"tasks": TASKS, "models": MODELS, "learners": LEARNERS}


def run(args) -> int:
    for section, table in catalogue().items():
        if args.what not in (None, section):
            continue
        print(f"{section}:")
        for name, cls in sorted(table.items()):
            print(f"  {name:<14} {first_line(cls)}")
            print(f"  {'':<14} parameters: {describe_params(cls) or '(none)'}")
        print()
    return 0


def add_parser(sub):
    p = sub.add_parser("list", help="show the tasks, models and learners with their parameters",
                       description="Show the tasks, models and learners with their parameters and defaults.")
    p.add_argument("what", nargs="?", choices=["tasks", "models", "learners"], help="only this section")
    p.set_defaults(func=run)
