"""Python's frame stack during a report build.

Since CPython 3.11 the frames of Python functions live on a per-thread stack made of
chunks (16 KiB, or the next power of two a frame needs). A call that does not fit in the
current chunk maps a new one; the return from the frame at a chunk's base unmaps it. A
loop whose calls sit exactly on a chunk's boundary therefore maps and unmaps 16 KiB on
every iteration: CPython issue gh-142183, "Calls across stack chunks perform badly",
fixed by caching one chunk per thread (gh-145789, merged in March 2026 and backported to
3.13 and 3.14), not in 3.11 or 3.12.

A report build under Python 3.11.7 crossed a boundary 104,367 times (strace: that many
``mmap`` and ``munmap`` of 16,384 bytes from ``_PyThreadState_BumpFramePointerSlow``),
which cost 0.6-0.7 CPU-s of system time: 1.04 and 0.98 s of ``sys`` in two builds, 0.36
and 0.38 with ``on_roomy_stack`` (3 December 2026). The same cycle in C, 104,000 maps,
touches and unmaps of 16 KiB, takes 0.66 s of system time on that machine.

``on_roomy_stack`` calls the build from a frame whose code asks for a 512 KiB
evaluation stack (``co_stacksize``; more than a code needs is allowed, it is only an
upper bound the interpreter reserves room for). CPython gives that frame a new chunk of
the next power of two, 1 MiB, and the build's own frames then stack in the half it does
not use: the build runs at most 112 frames deep (the shipped report, counted with
``sys.setprofile``), a few hundred bytes each, so it does not
reach the chunk's end, and no boundary is crossed again. The chunk is mapped once and
only the pages touched are backed by memory. On Python 3.10, whose frames are objects of
their own, the one frame is 512 KiB larger and nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

T = TypeVar("T")

ROOM = 65_536  # stack slots of 8 bytes: 512 KiB


def _call(fn, args, kwargs):
    return fn(*args, **kwargs)


# the same function, with room reserved for 65,536 values on its evaluation stack
_call_on_roomy_stack = type(_call)(_call.__code__.replace(co_stacksize=ROOM), globals(),
                                   "_call_on_roomy_stack")


def on_roomy_stack(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorate ``fn`` to run with its frames in one large stack chunk (module doc)."""

    @wraps(fn)
    def roomy(*args, **kwargs) -> T:
        return _call_on_roomy_stack(fn, args, kwargs)

    return roomy
