"""Where the data stages' Dask work runs: on a Dask cluster when the environment names one, else here.

`DASK_SCHEDULER_ADDRESS` (e.g. tcp://scheduler:8786) sends every data stage's Dask graph to that cluster;
it is read from the environment, not params.yaml, because where the work runs never changes what it
writes (dvc.lock stays the same). Without it the graph runs in this process on the local scheduler below,
with nothing to start. docs/scaling.md says how to run a cluster and what each setting costs.

Dask's own settings apply as usual (its config files or DASK_* variables): DASK_TEMPORARY_DIRECTORY is where
a worker or the local shuffle spills to disk.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dask

SCHEDULER_ADDRESS_ENV = "DASK_SCHEDULER_ADDRESS"
# The local scheduler when no cluster is named. Partitions are pandas frames, and pandas' string work
# (cleaning, JSON parsing) holds the GIL: see docs/scaling.md for the measured choice.
LOCAL_SCHEDULER = "threads"


@contextmanager
def dask_scheduler(stage: str) -> Iterator[str]:
    """Run the Dask computations inside on the cluster at DASK_SCHEDULER_ADDRESS, or locally; yields
    where ("tcp://..." or the local scheduler's name) and says it on stdout."""
    address = os.environ.get(SCHEDULER_ADDRESS_ENV)
    if address:
        from distributed import Client  # imported only when a cluster is used: it starts nothing by itself

        with Client(address, set_as_default=True) as client:
            workers = len(client.scheduler_info().get("workers", {}))
            print(f"{stage}: on the Dask cluster at {address} ({workers} workers)")
            yield address
        return
    with dask.config.set(scheduler=LOCAL_SCHEDULER):
        yield LOCAL_SCHEDULER
