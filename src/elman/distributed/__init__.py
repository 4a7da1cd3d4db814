"""Work beyond one process: Dask for document collections, torch.distributed for training.

``collection`` tags folders of documents on a Dask cluster and writes JSON Lines partitions;
``ddp`` trains one model in several processes with ``DistributedDataParallel``.
"""

from __future__ import annotations
