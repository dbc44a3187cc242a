"""``rnnplay train --nproc N``: the same command line again, as N data-parallel processes on this
machine, started by torchrun (torch.distributed.run) in its single-machine ``--standalone`` mode
(a rendezvous on a free local port).  Each process is ``python -m tui.cli train ...`` under
torchrun's RANK/WORLD_SIZE/LOCAL_RANK; every one prints its own one-line error, so the launcher
adds nothing to them and returns the first failed process's exit status."""
from __future__ import annotations

import logging
import os


def without_nproc(argv: list[str]) -> list[str]:
    """``argv`` less its ``--nproc N`` (or ``--nproc=N``): what each process runs."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept


def launch(argv: list[str], nproc: int) -> int:
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    # torchrun's own log lines (a default it set, its report of a failed process) would bury the
    # processes' one-line messages
    logging.getLogger("torch.distributed").setLevel(logging.CRITICAL)
    # each process sets its own thread count (--threads); torchrun would warn that it chose one
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    config = parse_args(["--standalone", f"--nproc-per-node={nproc}", "--module", "tui.cli"])
    # set apart from torchrun's parser, which reads an option of ours that starts one of its own
    # (--log: --log-dir, --logs-specs) as an ambiguous abbreviation
    config.training_script_args = without_nproc(argv)
    try:
        run(config)
    except ChildFailedError as exc:
        _, failure = exc.get_first_failure()
        return failure.exitcode if failure.exitcode > 0 else 1
    return 0
