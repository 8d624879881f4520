"""Sequence tasks: seeded streams of (x_t, y_t) chunks with held-out test sets and success measures."""
from .base import Chunk, Stream, Task
from .add import AddTask
from .adding import AddingTask
from .anbncn import AnBnCnTask
from .char_lm import CharLMTask
from .copy import CopyTask
from .delayed_xor import DelayedXORTask
from .latch import LatchTask
from .mackey_glass import MackeyGlassTask
from .mimic import MimicTask
from .narma10 import Narma10Task
from .reber import ReberTask
from .sine import SineTask
from .word_lm import WordLMTask

#: name -> Task class. A new task is a module here and one line in this table.
TASKS: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (AddTask, AddingTask, AnBnCnTask, CharLMTask, CopyTask, DelayedXORTask, LatchTask, MackeyGlassTask,
                MimicTask, Narma10Task, ReberTask, SineTask, WordLMTask)
}


def make_task(name: str, **params) -> Task:
    """The task called `name` with `params`; a clear ValueError for an unknown name or parameter."""
    try:
        cls = TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; choose from {', '.join(sorted(TASKS))}") from None
    try:
        return cls(**params)
    except TypeError as exc:  # an unknown keyword
        raise ValueError(f"task {name!r}: {exc}") from None


__all__ = ["Chunk", "Stream", "Task", "AddTask", "AddingTask", "AnBnCnTask", "CharLMTask", "CopyTask", "DelayedXORTask",
           "LatchTask", "MackeyGlassTask", "MimicTask", "Narma10Task", "ReberTask", "SineTask", "WordLMTask", "TASKS",
           "make_task"]
