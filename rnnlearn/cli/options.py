"""Parsing of option values the commands share (not a command): integer lists, comma lists, learner specs
and --max-n NAME=N,..."""
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
