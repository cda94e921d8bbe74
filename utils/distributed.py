"""Multi-process training under `torchrun`: process group, rank helpers, collectives, global-batch
sharding and position-derived seeding.

    torchrun --nproc_per_node 4 train_transformer.py --name trans_default --batch_size 13   # 4 x 13 = 52

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK (and MASTER_ADDR/PORT) in each process's environment;
`init_distributed(opt)` then joins the process group: NCCL with one GPU per rank (cuda:LOCAL_RANK)
when CUDA is available and --device is not cpu, gloo on CPU. Without those variables (a plain
`python train_x.py`) every helper here is a no-op for one process, so nothing changes.

Why ranks give the same result as one process. The design treats the ranks as gradient-accumulation
micro-batches run in parallel:
- `--batch_size` is the PER-RANK micro-batch; one optimiser step ("iteration") consumes a global
  batch of batch_size x ranks x grad_accum items (`GlobalBatchSampler`): the seeded epoch
  permutation is computed identically on every rank and cut into global batches; global batch g
  is cut into ranks x grad_accum micro-batches, rank r taking micro-batches r*A .. r*A + A - 1;
- every micro-batch's random draws (dropout, masking, Gumbel noise, condition dropout, ...) come
  from the global RNGs reseeded with (seed, iteration, global micro-batch index) (`seed_all`), and
  every dataset item's draws (crop, caption, person order) from (seed, epoch, item index)
  (`SeededItems`). Neither depends on which process runs the micro-batch;
- gradients are averaged over ranks by DistributedDataParallel and over micro-batches by the
  trainer, so a step's gradient is the mean of the ranks x grad_accum micro-batch gradients.
Hence N ranks x batch b x accumulation A give, to float rounding, the weights of one process with
batch b and accumulation N*A; and a checkpoint resumes on any number of ranks (its position is the
global iteration, stored with the global batch size).
"""
import contextlib
import datetime
import os
import random
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Dataset, Sampler

DEFAULT_TIMEOUT_MINUTES = 180  # ranks wait at a barrier while rank 0 validates/evaluates (can be long)
ITEM_TAG, STEP_TAG = 1, 2      # separate the seed streams of dataset items and step-level draws
BUCKET_TAG = 3                 # the seed stream of the batch order under length bucketing


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self):
        return self.world_size > 1

    @property
    def is_main(self):
        return self.rank == 0


_CURRENT = DistInfo()


def get_dist():
    """The process's DistInfo (one process, rank 0, until `init_distributed` joins a group)."""
    return _CURRENT


def launched_by_torchrun():
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def resolve_device(opt):
    """Pick the device (--device, else cuda:<gpu_id> when CUDA is available, else the CPU) without ever
    calling torch.cuda.set_device on a machine without CUDA."""
    if getattr(opt, "device", None):
        return torch.device(opt.device)
    if torch.cuda.is_available():
        return torch.device(f"cuda:{getattr(opt, 'gpu_id', 0)}")
    return torch.device("cpu")


def init_distributed(opt, timeout_minutes=DEFAULT_TIMEOUT_MINUTES):
    """Join the torchrun process group when launched by torchrun; pick the device. Returns DistInfo.

    Under torchrun each rank uses cuda:LOCAL_RANK (NCCL) when CUDA is available and --device is not
    'cpu'; otherwise the CPU with gloo. Single process: the device `resolve_device(opt)` picks."""
    global _CURRENT
    if not launched_by_torchrun():
        _CURRENT = DistInfo(device=resolve_device(opt))
        return _CURRENT
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    wants_cpu = str(getattr(opt, "device", None) or "").startswith("cpu")
    if torch.cuda.is_available() and not wants_cpu:
        device, backend = torch.device(f"cuda:{local}"), "nccl"
        torch.cuda.set_device(device)
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=timeout_minutes))
    _CURRENT = DistInfo(rank=rank, world_size=world, local_rank=local, device=device)
    opt.device = str(device)
    return _CURRENT


def cleanup(synchronise=True):
    """Leave the process group; with `synchronise`, after a barrier so that no rank exits while rank 0
    still writes. (After an error torchrun stops the other ranks itself, so no barrier then.)"""
    global _CURRENT
    if dist.is_available() and dist.is_initialized():
        if synchronise:
            dist.barrier()
        dist.destroy_process_group()
    _CURRENT = DistInfo(device=_CURRENT.device)


@contextlib.contextmanager
def distributed_run(opt):
    """`with distributed_run(opt) as info:` init_distributed, then cleanup on the way out."""
    info = init_distributed(opt)
    try:
        yield info
    except BaseException:
        cleanup(synchronise=False)
        raise
    cleanup()


def is_main():
    return _CURRENT.is_main


def barrier():
    if _CURRENT.enabled:
        dist.barrier()


# ---- collectives (no-ops for one process) -----------------------------------------------------------
def all_reduce_mean(values):
    """dict name -> float: the mean over ranks of each value (same keys on every rank)."""
    if not _CURRENT.enabled or not values:
        return dict(values)
    keys = list(values)  # same insertion order on every rank (same code path)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return {k: float(v) / _CURRENT.world_size for k, v in zip(keys, t.tolist())}


def all_gather_cat(t):
    """Tensor (n_r, ...) on each rank -> (sum n_r, ...) in rank order, identical on every rank.
    Sizes may differ between ranks (rows are padded for the exchange and trimmed)."""
    if not _CURRENT.enabled:
        return t
    dev = _comm_device()
    n = torch.tensor([t.shape[0]], dtype=torch.long, device=dev)
    sizes = [torch.zeros_like(n) for _ in range(_CURRENT.world_size)]
    dist.all_gather(sizes, n)
    sizes = [int(s) for s in sizes]
    padded = torch.zeros((max(sizes),) + tuple(t.shape[1:]), dtype=t.dtype, device=dev)
    padded[: t.shape[0]] = t.to(dev)
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([p[:s] for p, s in zip(parts, sizes)]).to(t.device)


def broadcast_(t, src=0):
    """In place: every rank's `t` takes rank `src`'s values."""
    if _CURRENT.enabled:
        buf = t.to(_comm_device())
        dist.broadcast(buf, src)
        t.copy_(buf)
    return t


def _comm_device():
    return _CURRENT.device if dist.get_backend() == "nccl" else torch.device("cpu")


# ---- DistributedDataParallel ---------------------------------------------------------------------
def wrap_ddp(module):
    """DDP around `module` under torchrun, else the module itself. Buffers are not broadcast: the
    only trained buffers (the VQ codebooks) are kept identical by the trainer's own reduction."""
    if not _CURRENT.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel
    ids = [_CURRENT.device.index] if _CURRENT.device.type == "cuda" else None
    with warnings.catch_warnings():  # torch >= 2.14 flags broadcast_buffers; its advice is to keep it for now
        warnings.filterwarnings("ignore", message=".*broadcast_buffers.*", category=FutureWarning)
        return DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)


def no_sync(net, skip):
    """Skip DDP's gradient all-reduce for this backward (all micro-batches of a step but the last)."""
    if skip and hasattr(net, "no_sync"):
        return net.no_sync()
    return contextlib.nullcontext()


# ---- seeding derived from positions -------------------------------------------------------------------
def derived_seed(*keys):
    """A 63-bit seed from a tuple of non-negative ints (numpy's SeedSequence hashing)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def seed_all(*keys):
    """Reseed python `random`, numpy and torch (CPU and CUDA) from `derived_seed(*keys)`."""
    s = derived_seed(*keys)
    random.seed(s)
    np.random.seed(s % 2 ** 32)
    torch.manual_seed(s)


def step_generator(seed, it):
    """A CPU generator for draws shared by every micro-batch of iteration `it` (same on all ranks)."""
    return torch.Generator().manual_seed(derived_seed(seed, it, STEP_TAG))


class SeededItems(Dataset):
    """Wraps a dataset so the random draws of item i in epoch e (python `random`, numpy) come from
    (seed, e, i) alone: the same whatever the rank, worker or resume point that loads it."""

    def __init__(self, dataset, seed):
        self.dataset, self.seed, self.epoch = dataset, int(seed), 0

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, idx):
        s = derived_seed(self.seed, self.epoch, idx, ITEM_TAG)
        random.seed(s)
        np.random.seed(s % 2 ** 32)
        return self.dataset[idx]


class GlobalBatchSampler(Sampler):
    """This rank's micro-batches of a seeded epoch permutation cut into global batches.

    Global batch size G = batch_size x world_size x accum; an epoch has n_items // G steps (the rest
    is dropped; with drop_last=False and G = batch_size a last short batch is kept). Step g covers
    permutation[g*G:(g+1)*G]; its micro-batch m (of world_size*accum) is the m-th batch_size slice,
    and rank r yields micro-batches r*accum .. r*accum + accum - 1 of every step. The permutation
    depends on (seed, epoch) only, so any split of G over ranks and accumulation sees the same items
    in the same global steps. `set_position(epoch, start_batch)` starts at global step start_batch.

    Length bucketing (ours; `bucket_batches` > 0 with per-item `lengths`). Why: the transformer runs
    each micro-batch up to its longest clip, and a random batch of clips of 30-300 frames almost
    always holds a ~300-frame one, so every sample costs about what a 300-frame sample costs. With
    bucketing the same epoch permutation (minus the same dropped tail) is cut into pools of
    bucket_batches x G items; each pool is sorted by length (stable: ties keep the random order) and
    cut into global batches; then the order of all global batches of the epoch is shuffled by a
    generator seeded from (seed, epoch). A global batch therefore holds clips of similar length
    (sorted, so its first micro-batches hold the shorter clips). What changes is batch composition
    only: every item is still seen once per epoch (the same items are dropped), each item's own draws
    (crop, caption, person order: (seed, epoch, item)) are identical, the masking and dropout draws
    come from the same (seed, iteration, micro-batch) streams and the loss is the same function; the
    order still depends on (seed, epoch, G) alone, not on how G is split over ranks and accumulation.
    Side effects: batches are less random (lengths correlate within a batch), and since the
    transformer's loss is a token mean per micro-batch, a short clip batched with short clips weighs
    more in the gradient than in a mixed batch. bucket_batches = 0 (default) gives exactly the plain
    order."""

    def __init__(self, n_items, batch_size, seed, shuffle=True, drop_last=True, world_size=1, rank=0, accum=1,
                 lengths=None, bucket_batches=0):
        self.n_items, self.batch_size, self.seed = int(n_items), int(batch_size), int(seed)
        self.shuffle, self.drop_last = shuffle, drop_last
        self.world_size, self.rank, self.accum = int(world_size), int(rank), max(1, int(accum))
        self.global_batch = self.batch_size * self.world_size * self.accum
        self.epoch, self.start_batch = 0, 0
        self.bucket_batches = int(bucket_batches or 0)
        if self.bucket_batches < 0:
            raise ValueError(f"bucket_batches must be >= 0, got {bucket_batches}")
        self.lengths = None
        if self.bucket_batches:
            if lengths is None:
                raise ValueError("length bucketing (bucket_batches > 0) needs the per-item lengths")
            self.lengths = [int(n) for n in lengths]
            if len(self.lengths) != self.n_items:
                raise ValueError(f"lengths has {len(self.lengths)} entries for {self.n_items} items")

    def set_position(self, epoch, start_batch=0):
        self.epoch, self.start_batch = epoch, start_batch

    @property
    def steps_per_epoch(self):
        full = self.n_items // self.global_batch
        partial = not self.drop_last and self.global_batch == self.batch_size and self.n_items % self.batch_size
        return full + int(bool(partial))

    def __len__(self):
        """Micro-batches this rank yields in a whole epoch."""
        return self.steps_per_epoch * self.accum

    def order(self):
        if not self.shuffle:
            return list(range(self.n_items))
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        return torch.randperm(self.n_items, generator=g).tolist()

    def global_batches(self):
        """The epoch's global batches (lists of item indices) in step order, the same on every rank."""
        order, G = self.order(), self.global_batch
        used = order[:min(self.steps_per_epoch * G, self.n_items)]  # the dropped tail, as without bucketing
        if not self.bucket_batches:
            return [used[s * G:(s + 1) * G] for s in range(self.steps_per_epoch)]
        pool, batches = self.bucket_batches * G, []
        for p in range(0, len(used), pool):
            items = sorted(used[p:p + pool], key=self.lengths.__getitem__)  # stable
            batches += [items[k:k + G] for k in range(0, len(items), G)]
        if not self.shuffle:
            return batches
        g = torch.Generator().manual_seed(derived_seed(self.seed, self.epoch, BUCKET_TAG))
        return [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]

    def __iter__(self):
        batches, b = self.global_batches(), self.batch_size
        for step in range(self.start_batch, self.steps_per_epoch):
            for a in range(self.accum):
                m = self.micro_index(a)
                yield batches[step][m * b: (m + 1) * b]

    def micro_index(self, a):
        """Global index (0 .. world_size*accum - 1) of this rank's a-th micro-batch of a step."""
        return self.rank * self.accum + a
