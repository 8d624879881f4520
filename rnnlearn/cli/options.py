"""Parsing of option values the commands share (not a command): integer lists, comma lists, learner specs
--max-n NAME=N,... and the settings of a sweep"""
from __future__ import annotations


def int_list(values, what) -> list[int]:
    """Positive integers from '8,16 32' style values (a list of tokens or one string); ValueError naming
    the option `what`."""
    from rnnlearn.sweep import parse_value
    out = []
    for v in values if isinstance(values, list) else [values]:
        for part in str(v).split(","):
            if part.strip():
                x = parse_value(part)
                if isinstance(x, bool) or not isinstance(x, int):
                    raise ValueError(f"{what}: expected integers, got {part.strip()!r}")
                if x < 1:
                    raise ValueError(f"{what}: sizes must be positive integers, got {x}")
                out.append(x)
    return out


def csv_list(text, kind=str, what="") -> list:
    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{what + ': ' if what else ''}expected a comma-separated list, got {text!r}") from None


def max_n(text) -> dict:
    """{learner name: n} from '--max-n rtrl=64,ekf=32' (empty: each learner's own cap)."""
    from rnnlearn.algorithms import LEARNERS
    from rnnlearn.sweep import parse_value
    out = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, eq, value = item.partition("=")
        v = parse_value(value) if eq else None
        if not eq or isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"--max-n: expected learner=N,..., got {item.strip()!r}")
        if name.strip() not in LEARNERS:
            raise ValueError(f"--max-n: unknown learner {name.strip()!r}; choose from {', '.join(sorted(LEARNERS))}")
        out[name.strip()] = v
    return out


MAX_N_HELP = ("largest n per learner, e.g. rtrl=64,ekf=32 (default: each learner's own cap, Learner.max_n(), "
              "shown by `rnnlearn list learners`)")


def learner_specs(tokens) -> list[tuple[str, dict]]:
    """Learner specs as on the compare command line ("rtrl", "ekf:decoupling=node,jacobian=tbptt"); a token
    without ":" may also be a comma-separated list of names ("bptt,tbptt,rtrl")."""
    from rnnlearn.sweep import parse_spec
    specs = []
    for token in tokens:
        parts = [token] if ":" in token else [t for t in token.split(",") if t.strip()]
        specs.extend(parse_spec(part) for part in parts)
    return specs


def sweep_settings(args) -> dict:
    """The settings of a sweep (rnnlearn.sweep): the embedded defaults, then --config's file, then the options
    given (compare's and tune's alike; an option a command lacks counts as not given)."""
    from rnnlearn.sweep import default_settings, load_settings
    settings = default_settings()
    if args.config:
        own = load_settings(args.config)
        settings.update(own)
    cli = {k: getattr(args, k, None) for k in ("tasks", "models", "learners", "sizes", "seeds", "steps",
                                               "eval_every", "optimizer", "lr", "clip", "out", "jobs")}
    if getattr(args, "save_models", False):
        cli["save_models"] = True
    window, partners = getattr(args, "alignment", None), getattr(args, "align_with", None)
    if window is not None or partners is not None:
        own = settings.get("alignment") if isinstance(settings.get("alignment"), dict) else {}
        cli["alignment"] = dict(own, **({"window": window} if window is not None else {}),
                                **({"with": partners} if partners is not None else {}))
    given = {k: v for k, v in cli.items() if v is not None}
    if "sizes" in given:
        given["sizes"] = int_list(given["sizes"], "--sizes")
    own = ("optimizer", "lr", "clip", "steps", "eval_every")
    if given.get("learners") is None and any(k in given for k in own):
        # an optimizer or a run length chosen on the command line applies to the learners of the config too
        from rnnlearn.sweep import format_params, parse_spec
        specs = []
        for s in settings.get("learners", []):
            name, params = parse_spec(s)
            for k in own:
                if k in given:
                    params.pop(k, None)
            specs.append(f"{name}:{format_params(params)}" if params else name)
        settings["learners"] = specs
    settings.update(given)
    return settings
