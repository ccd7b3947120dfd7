"""Run independent tasks in this process or on a Dask cluster, results in task order.

The simulation (``models.simulate``) and GOSH (``models.robustness.gosh``) split their
work into tasks that the same batched kernels fit; the results come back in task order
and are reduced by the caller, so a run gives the same figures to the bit in-process,
on a ``LocalCluster`` of any size or on a remote scheduler. Dask (``dask.distributed``,
the extra ``metasynth[distributed]``) is imported only when a cluster is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cluster:
    """Where tasks run: nowhere (in this process), ``workers`` local processes (a
    ``LocalCluster``), a running scheduler's address (``tcp://host:8786``), or an open
    ``dask.distributed.Client``."""

    workers: int | None = None
    scheduler: str | None = None
    client: Any = None

    @property
    def distributed(self) -> bool:
        return self.workers is not None or self.scheduler is not None or self.client is not None

    def describe(self) -> str:
        if self.client is not None:
            return "a Dask client"
        if self.scheduler:
            return f"the Dask scheduler at {self.scheduler}"
        if self.workers is not None:
            return f"a local Dask cluster of {self.workers} worker process(es)"
        return "in-process"


IN_PROCESS = Cluster()


def _dask():
    try:
        from dask import distributed
    except ImportError:
        raise ImportError("running on a cluster needs Dask: pip install 'metasynth[distributed]'"
                          ) from None
    return distributed


def run_tasks(fn: Callable, tasks: Sequence, cluster: Cluster = IN_PROCESS,
              progress: Callable[[int, int], None] | None = None) -> list:
    """``[fn(t) for t in tasks]``, in this process or on the cluster; ``progress`` is
    called with (done, total) as tasks finish."""
    total = len(tasks)
    if not cluster.distributed:
        out = []
        for i, t in enumerate(tasks):
            out.append(fn(t))
            if progress:
                progress(i + 1, total)
        return out
    distributed = _dask()
    own_cluster = own_client = None
    client = cluster.client
    try:
        if client is None:
            if cluster.scheduler:
                client = own_client = distributed.Client(cluster.scheduler)
            else:
                own_cluster = distributed.LocalCluster(
                    n_workers=cluster.workers, threads_per_worker=1, processes=True,
                    dashboard_address=None)
                client = own_client = distributed.Client(own_cluster)
        futures = client.map(fn, list(tasks), pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        out: list = [None] * total
        for done, (future, result) in enumerate(
                distributed.as_completed(futures, with_results=True), start=1):
            out[index[future.key]] = result
            if progress:
                progress(done, total)
        return out
    finally:
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()
