"""Training on several processes with PyTorch's own distributed engine: ``torchrun --nproc-per-node N -m
engine train ...`` (DistributedDataParallel; gloo on CPU, nccl where every process has a GPU).

torchrun starts N copies of ``txe train`` and tells each its place in the environment (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT); :func:`start` reads it and joins the process group. What each
process does (engine.training.Trainer):

- every process draws the same global batch of ``--batch`` windows (the same seeded generator) and trains on
  its own slice of ``batch / N`` rows; DDP averages the gradients during the backward pass, so every
  process takes the same optimizer step as one process on the whole batch would (exactly so for the
  next-token loss, whose rows all hold ``context`` tokens; the masked loss weighs each slice's masked tokens
  by its own count);
- the reported loss is the mean over the processes, the same number one process would print;
- evaluations, probe snapshots and checkpoints are rank 0's alone (written atomically, as always), and the
  others say nothing on stdout; a stop (Ctrl-C, SIGTERM) on any process stops all of them at the same step.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from engine.errors import UserError

TIMEOUT = datetime.timedelta(minutes=30)  # a collective waits this long (rank 0 may be evaluating or saving)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def total(self, values: list[float]) -> list[float]:
        """The sum of ``values`` over every process (each process gives its own; all get the sums)."""
        if not self.distributed:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return t.cpu().tolist()

    def mean(self, value: float) -> float:
        return self.total([value])[0] / self.size

    def any(self, flag: bool) -> bool:
        """True on every process when ``flag`` is True on any (a stop must reach them all at one step)."""
        return self.total([1.0 if flag else 0.0])[0] > 0

    @property
    def device(self) -> torch.device:
        if self.distributed and torch.distributed.get_backend() == "nccl":
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")

    def shard(self, rows: int) -> slice:
        """This process's rows of a global batch of ``rows``."""
        per = rows // self.size
        return slice(self.rank * per, (self.rank + 1) * per)

    @contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (it prepares the folder, recovers what a crash left, caches the
        corpus's tokens), then the others. An error on any rank stops every rank with it, instead of leaving
        the others waiting in a collective."""
        if not self.distributed:
            yield
            return
        for main_turn in (True, False):  # each rank runs the block in its turn and joins both collectives
            failed: BaseException | None = None
            if self.is_main == main_turn:
                try:
                    yield
                except BaseException as e:  # noqa: BLE001 (passed on below, after the others are told)
                    failed = e
            if self.any(failed is not None):
                if failed is not None:
                    raise failed
                who = "rank 0" if main_turn else "another process"
                raise UserError(f"{who} could not start the run (its message says why)")


def world_from_env(env: dict[str, str] | None = None) -> World:
    """The World torchrun describes in the environment (a single process without it)."""
    env = os.environ if env is None else env
    try:
        size = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise UserError("WORLD_SIZE, RANK and LOCAL_RANK must be whole numbers (torchrun sets them)") from None
    if size < 1 or not 0 <= rank < size:
        raise UserError(f"RANK {rank} is not a place among WORLD_SIZE {size} processes")
    return World(rank, size, local)


def start(env: dict[str, str] | None = None) -> World:
    """Join the process group torchrun set up (nothing to do for one process)."""
    world = world_from_env(env)
    if not world.distributed or torch.distributed.is_initialized():
        return world
    gpus = torch.cuda.is_available() and torch.cuda.device_count() > world.local_rank
    backend = "nccl" if gpus else "gloo"
    if gpus:
        torch.cuda.set_device(world.local_rank)
    torch.distributed.init_process_group(backend, rank=world.rank, world_size=world.size, timeout=TIMEOUT)
    return world


def stop(world: World) -> None:
    if world.distributed and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
