"""What `rnnlearn list` shows: the tasks, models and learners, with their parameters and defaults, read from
the registries and, for learners, from what each class declares (algorithms/base.py)."""
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


def learner_facts(cls) -> dict:
    """What a learner class declares, as `rnnlearn list learners` shows it: display name, reference,
    capabilities, default learning rate, cost exponents and size cap of its default configuration, and
    its parameters with their defaults."""
    from .models import MODELS
    learner = cls()
    time_exp, memory_exp = learner.cost_exponents()
    trains, refuses = [], {}
    for kind, mcls in sorted(MODELS.items()):  # where the method is defined, asked of the learner itself
        model = mcls(n_in=2, n_hidden=4, n_out=2)
        why = learner.supports(model)
        (refuses.__setitem__(kind, why) if why else trains.append(kind))
    return {"name": cls.name, "display_name": cls.display_name, "reference": cls.reference,
            "summary": first_line(cls), "capabilities": cls.capabilities(), "default_lr": cls.default_lr,
            "time_exponent": time_exp, "memory_exponent": memory_exp, "max_n": learner.max_n(),
            "key_params": list(cls.key_params), "parameters": describe_params(cls), "trains": trains,
            "refuses": refuses}
