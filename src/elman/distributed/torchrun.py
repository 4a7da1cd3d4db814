"""torchrun as ``elman train --nproc`` starts it: quiet when a signal stops the run.

Ctrl-C or SIGTERM makes torchrun stop its training processes and then raise ``SignalException``,
whose traceback would follow the parent's one-line message. Here that exception ends the
process with status 128 + the signal number instead, as a shell reports a process a signal ended.
"""

from __future__ import annotations

import logging
import os
import sys


def main(arguments: list[str]) -> int:
    """Run torchrun with ``arguments``; return 0, or 128 + the signal that stopped it."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.run import main as torchrun

    # Most of torchrun's loggers take their level from LOGLEVEL; this sets the others'.
    logging.getLogger("torch.distributed.elastic").setLevel(os.environ.get("LOGLEVEL", "WARNING"))
    try:
        torchrun(arguments)
    except SignalException as stop:
        return 128 + int(stop.sigval)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
