"""Run the library's Pyro code outside the caller's Pyro program (``sealed``).

A fit, a sampler or a bound that calls ``pyro.sample`` or ``pyro.plate`` may be called from
inside a learner's own model: ``box.fit(x).distribution()`` in ``my_model``, ``gan_fit.sample``
under ``Predictive``, a bound inside ``pyro.plate("data")``. Pyro's effect handlers live on one
global stack (``pyro.poutine.runtime._PYRO_STACK``) and plates take their names and dims from one
global allocator, so without a seal:

- the caller's ``trace`` records the library's sites, and raises on a second site named "data";
- the caller's ``condition`` reaches the library's latents (``{"z": ...}`` fixes a GAN's noise);
- the caller's ``pyro.plate("data")`` makes the library's own "data" plate a "duplicate plate",
  and any enclosing plate broadcasts the library's sites.

``poutine.block`` around the library's code is not enough. It keeps the caller's handlers
from the library's sites (a blocked message stops before it reaches them), but plate names and
dims come from one global allocator whatever is blocked, so the library's "data" plate under the
caller's is still a "duplicate plate"; and ``poutine.scope`` renames sites but not plates. So
``sealed`` runs the block on an empty handler stack and a fresh plate allocator, as if no
caller's program were running, and puts the caller's back as they were when the block ends
(also on an exception). The library's code then sees none of the caller's handlers and the
caller's handlers see none of its sites.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from pyro.poutine import runtime

__all__ = ["sealed"]


@contextmanager
def sealed() -> Iterator[None]:
    """Run a block outside the caller's Pyro program: no handler and no plate of theirs applies.

    Safe to nest, and a no-op cost when no Pyro program is running (the stack is empty).
    """
    stack = runtime._PYRO_STACK  # other modules hold this list: change it in place
    dims, enums = runtime._DIM_ALLOCATOR, runtime._ENUM_ALLOCATOR
    saved_stack, saved_dims, saved_enums = stack[:], dims._stack, dict(vars(enums))
    stack.clear()
    dims._stack = []
    try:
        yield
    finally:
        stack[:] = saved_stack
        dims._stack = saved_dims
        vars(enums).clear()
        vars(enums).update(saved_enums)
