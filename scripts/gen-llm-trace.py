#!/usr/bin/env python3
"""Generates tests/traces/llm_inference_2x_wormhole.trace for tt-alloc-replay.

The trace is shaped like serving an 8B-parameter Llama-style model (bf16)
tensor-parallel on the two Wormhole chips of an n300: weights resident in DRAM
on both chips, a paged KV cache that grows as tokens are decoded, L1
activations churning every layer of every decode step, circular buffers per
program and kernel binaries loaded when programs are first compiled.

Addresses come from a small model of TT-Metal's allocators: DRAM buffers are
interleaved over 12 banks and L1 buffers over the worker cores, so an address
is the per-bank offset (page-aligned, DRAM bottom-up, L1 top-down, first fit
with reuse of freed holes). Totals, not addresses, are what tt-alloc checks;
the addresses only need to be plausible and never collide.

Deterministic (no randomness), python3 standard library only. Usage:
    scripts/gen-llm-trace.py > tests/traces/llm_inference_2x_wormhole.trace
tests/sh/test_replay.sh checks that the checked-in trace equals this output.
"""
import sys

# --- the model (Llama-3.1-8B shapes) and the machine -------------------------
LAYERS = 32
HIDDEN = 4096
FFN = 14336
HEADS, KV_HEADS, HEAD_DIM = 32, 8, 128
VOCAB = 128256
BF16 = 2
DEVICES = 2                  # tensor parallel over both chips of an n300
CORES = 72                   # worker cores per Wormhole B0 chip
BATCH = 32                   # users decoded together
PROMPT = 256                 # prompt tokens per user (prefill)
DECODE_STEPS = 128           # generated tokens per user
KV_BLOCK = 16                # tokens per paged-KV block
TILE_BYTES = 32 * 32 * BF16  # one bf16 tile: the page size of every buffer

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
DRAM_BANKS, DRAM_BANK_BYTES, DRAM_BASE = 12, GIB, 64 * KIB
L1_TOP, L1_BASE = 1464 * KIB, 128 * KIB  # buffers live below the top, above CBs
L1_SMALL_BASE, L1_SMALL_BYTES = 96 * KIB, 32 * KIB
TRACE_REGION = 64 * MIB      # captured decode trace, top of DRAM
TRACE_PER_BANK = -(-TRACE_REGION // (12 * 32 * 32 * 2)) * 32 * 32 * 2
SYSMEM_BASE = 1 << 32        # host hugepage offsets: above every DRAM bank offset

# Wall-clock shape (milliseconds at --speed 1): ~1 s of weight loading,
# ~1 s of prefill, 40 ms per decode step (25 tokens/s per user).
LOAD_MS_PER_LAYER = 25
PREFILL_MS_PER_LAYER = 30
DECODE_MS_PER_8_LAYERS = 9
DECODE_MS_SAMPLING = 4


def ceil_div(a, b):
    return -(-a // b)


class InterleavedAllocator:
    """First-fit over one bank's address range; a buffer of N bytes takes
    ceil(pages / banks) pages in every bank, at the same offset."""

    def __init__(self, base, end, banks, top_down):
        self.free = [(base, end)]  # sorted, non-adjacent [start, end) holes
        self.banks = banks
        self.top_down = top_down
        self.taken = {}

    def footprint(self, nbytes):
        return ceil_div(ceil_div(nbytes, TILE_BYTES), self.banks) * TILE_BYTES

    def alloc(self, nbytes):
        need = self.footprint(nbytes)
        holes = reversed(range(len(self.free))) if self.top_down else range(len(self.free))
        for i in holes:
            start, end = self.free[i]
            if end - start < need:
                continue
            addr = end - need if self.top_down else start
            rest = [(start, addr)] if self.top_down else [(addr + need, end)]
            self.free[i:i + 1] = [h for h in rest if h[0] < h[1]]
            self.taken[addr] = need
            return addr
        raise RuntimeError("model does not fit: %d bytes" % nbytes)

    def release(self, addr):
        need = self.taken.pop(addr)
        self.free.append((addr, addr + need))
        self.free.sort()
        merged = []
        for start, end in self.free:
            if merged and merged[-1][1] == start:
                merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        self.free = merged


class Trace:
    def __init__(self):
        self.lines = []
        self.live = {}     # (device, address) -> (type, size)
        self.kernels = {}  # (device, kernel id) -> size
        self.dram = [InterleavedAllocator(DRAM_BASE, DRAM_BANK_BYTES - TRACE_PER_BANK,
                                          DRAM_BANKS, False) for _ in range(DEVICES)]
        self.l1 = [InterleavedAllocator(L1_BASE, L1_TOP, CORES, True) for _ in range(DEVICES)]
        self.l1_small = [InterleavedAllocator(L1_SMALL_BASE, L1_SMALL_BASE + L1_SMALL_BYTES, CORES, True)
                         for _ in range(DEVICES)]
        self.sysmem_next = [SYSMEM_BASE] * DEVICES

    def comment(self, text):
        self.lines.append("# " + text)

    def sleep(self, ms):
        self.lines.append("sleep %d" % ms)

    def alloc(self, dev, size, mtype, note=None):
        if mtype == "dram":
            addr = self.dram[dev].alloc(size)
        elif mtype == "l1":
            addr = self.l1[dev].alloc(size)
        elif mtype == "l1_small":
            addr = self.l1_small[dev].alloc(size)
        elif mtype == "system":
            addr = self.sysmem_next[dev]
            self.sysmem_next[dev] += ceil_div(size, 2 * MIB) * 2 * MIB
        elif mtype == "trace":
            addr = DRAM_BANK_BYTES - TRACE_PER_BANK
        else:
            raise ValueError(mtype)
        return self._emit_alloc(dev, addr, size, mtype, note)

    def cb(self, dev, cb_id, size):
        return self._emit_alloc(dev, cb_id, size, "cb", None)

    def kernel(self, dev, kernel_id, size, note):
        self.kernels[(dev, kernel_id)] = size
        self.lines.append("alloc %d 0x%x %d kernel  # %s" % (dev, kernel_id, size, note))

    def _emit_alloc(self, dev, addr, size, mtype, note):
        assert (dev, addr) not in self.live, (dev, addr)
        self.live[(dev, addr)] = (mtype, size)
        self.lines.append("alloc %d 0x%x %d %s%s" % (dev, addr, size, mtype, "  # " + note if note else ""))
        return addr

    def free(self, dev, addr):
        mtype, _ = self.live.pop((dev, addr))
        if mtype == "dram":
            self.dram[dev].release(addr)
        elif mtype == "l1":
            self.l1[dev].release(addr)
        elif mtype == "l1_small":
            self.l1_small[dev].release(addr)
        self.lines.append("free %d 0x%x" % (dev, addr))

    def totals(self):
        """End state per device: bytes per type and live buffers (allocations
        with a free event: a loaded kernel counts in bytes only, as in
        tt-alloc)."""
        out = {}
        held = [(dev, mtype, size) for (dev, _), (mtype, size) in self.live.items()]
        held += [(dev, "kernel", size) for (dev, _), size in self.kernels.items()]
        for dev, mtype, size in held:
            t = out.setdefault(dev, {})
            t[mtype] = t.get(mtype, 0) + size
            if mtype != "kernel":
                t["buffers"] = t.get("buffers", 0) + 1
        return out


# Programs: (name, [(kernel role, binary bytes per core)], [(cb index, bytes per core)]).
DECODE_PROGRAMS = [
    ("embedding", [("reader", 3072), ("writer", 2048)], [(0, 8 * KIB), (16, 8 * KIB)]),
    ("rmsnorm", [("reader", 4096), ("writer", 2560), ("compute", 6144)],
     [(0, 8 * KIB), (1, 4 * KIB), (16, 8 * KIB), (24, 4 * KIB)]),
    ("qkv_matmul", [("reader", 5120), ("writer", 4096), ("compute", 9216)],
     [(0, 32 * KIB), (1, 64 * KIB), (16, 16 * KIB)]),
    ("rotary", [("reader", 3072), ("writer", 2048), ("compute", 5120)], [(0, 8 * KIB), (16, 8 * KIB)]),
    ("sdpa_decode", [("reader", 8192), ("writer", 6144), ("compute", 14336)],
     [(0, 16 * KIB), (1, 64 * KIB), (2, 64 * KIB), (16, 16 * KIB), (24, 32 * KIB)]),
    ("wo_matmul", [("reader", 5120), ("writer", 4096), ("compute", 9216)],
     [(0, 32 * KIB), (1, 64 * KIB), (16, 16 * KIB)]),
    ("all_reduce", [("sender", 7168), ("receiver", 6144)], [(0, 32 * KIB), (16, 32 * KIB)]),
    ("ffn_w1_w3", [("reader", 5120), ("writer", 4096), ("compute", 10240)],
     [(0, 32 * KIB), (1, 96 * KIB), (16, 32 * KIB)]),
    ("ffn_w2", [("reader", 5120), ("writer", 4096), ("compute", 9216)],
     [(0, 32 * KIB), (1, 96 * KIB), (16, 16 * KIB)]),
    ("lm_head", [("reader", 5120), ("writer", 4096), ("compute", 9216)],
     [(0, 32 * KIB), (1, 128 * KIB), (16, 32 * KIB)]),
    ("argmax", [("reader", 2048), ("compute", 4096)], [(0, 8 * KIB), (16, 2 * KIB)]),
]
PREFILL_PROGRAMS = [
    ("prefill_matmul", [("reader", 6144), ("writer", 5120), ("compute", 12288)],
     [(0, 64 * KIB), (1, 128 * KIB), (16, 64 * KIB)]),
    ("prefill_sdpa", [("reader", 9216), ("writer", 7168), ("compute", 16384)],
     [(0, 64 * KIB), (1, 64 * KIB), (2, 64 * KIB), (16, 32 * KIB), (24, 64 * KIB)]),
    ("paged_fill_cache", [("reader", 3072), ("writer", 4096)], [(0, 32 * KIB)]),
]


def compile_programs(t, programs, first_id):
    """Loads each program's kernels and allocates its CBs on both devices;
    returns the CB ids so the program cache can be cleared later."""
    cbs = []
    for n, (name, kernels, buffers) in enumerate(programs):
        program_id = first_id + n
        for dev in range(DEVICES):
            for role_index, (role, per_core) in enumerate(kernels):
                t.kernel(dev, (program_id << 4) | role_index, per_core * CORES, "%s %s" % (name, role))
            for cb_index, per_core in buffers:
                cb_id = (program_id << 8) | cb_index
                t.cb(dev, cb_id, per_core * CORES)
                cbs.append((dev, cb_id))
    return cbs


def weights(t):
    t.comment("--- load weights: bf16, each matrix split in half over the two chips ---")
    resident = []
    shard_rows = VOCAB // 16
    for shard in range(8):
        for dev in range(DEVICES):
            resident.append((dev, t.alloc(dev, shard_rows * HIDDEN * BF16, "dram",
                                          "tok_embeddings shard %d" % shard)))
    for dev in range(DEVICES):
        for name in ("rope_cos", "rope_sin"):
            resident.append((dev, t.alloc(dev, 4096 * HEAD_DIM * BF16, "dram", name)))
    qkv_cols = (HEADS + 2 * KV_HEADS) * HEAD_DIM // DEVICES
    for layer in range(LAYERS):
        for dev in range(DEVICES):
            note = "layer %d " % layer
            resident.append((dev, t.alloc(dev, 32 * HIDDEN * BF16, "dram", note + "attention_norm")))
            resident.append((dev, t.alloc(dev, HIDDEN * qkv_cols * BF16, "dram", note + "wqkv")))
            resident.append((dev, t.alloc(dev, HIDDEN // DEVICES * HIDDEN * BF16, "dram", note + "wo")))
            resident.append((dev, t.alloc(dev, 32 * HIDDEN * BF16, "dram", note + "ffn_norm")))
            for w in ("w1", "w3", "w2"):
                resident.append((dev, t.alloc(dev, HIDDEN * FFN // DEVICES * BF16, "dram", note + w)))
        t.sleep(LOAD_MS_PER_LAYER)
    for dev in range(DEVICES):
        resident.append((dev, t.alloc(dev, 32 * HIDDEN * BF16, "dram", "norm")))
    for shard in range(8):
        for dev in range(DEVICES):
            resident.append((dev, t.alloc(dev, HIDDEN * shard_rows * BF16, "dram",
                                          "lm_head shard %d" % shard)))
    return resident


def kv_block(t, layer):
    """K and V pages of one KV_BLOCK-token block of one layer, on both chips."""
    page = KV_BLOCK * BATCH * (KV_HEADS // DEVICES) * HEAD_DIM * BF16
    for dev in range(DEVICES):
        t.alloc(dev, page, "dram", "layer %d K page" % layer)
        t.alloc(dev, page, "dram", "layer %d V page" % layer)


def prefill(t):
    t.comment("--- prefill: %d users x %d prompt tokens; KV pages written per layer ---" % (BATCH, PROMPT))
    cbs = compile_programs(t, PREFILL_PROGRAMS, 0x40)
    tokens = BATCH * PROMPT
    hidden = [t.alloc(dev, tokens * HIDDEN * BF16, "dram", "prefill hidden") for dev in range(DEVICES)]
    for layer in range(LAYERS):
        for dev in range(DEVICES):
            attn = t.alloc(dev, tokens * HIDDEN // DEVICES * BF16, "dram")
            ffn = t.alloc(dev, tokens * FFN // DEVICES * BF16, "dram")
            t.free(dev, attn)
            t.free(dev, ffn)
        for _ in range(PROMPT // KV_BLOCK):
            kv_block(t, layer)
        t.sleep(PREFILL_MS_PER_LAYER)
    for dev in range(DEVICES):
        t.free(dev, hidden[dev])
    t.comment("prefill programs leave the program cache")
    for dev, cb_id in cbs:
        t.free(dev, cb_id)


def decode(t):
    t.comment("--- decode: %d steps for %d users; one KV block per layer every %d steps ---"
              % (DECODE_STEPS, BATCH, KV_BLOCK))
    cbs = compile_programs(t, DECODE_PROGRAMS, 0x10)
    steady = []
    for dev in range(DEVICES):
        steady.append((dev, t.alloc(dev, TRACE_REGION, "trace", "captured decode trace")))
        steady.append((dev, t.alloc(dev, 2 * KIB * CORES, "l1_small", "rope transformation matrix")))
        steady.append((dev, t.alloc(dev, 1 * KIB * CORES, "l1_small", "all_reduce semaphores")))
        steady.append((dev, t.alloc(dev, BATCH * (VOCAB // DEVICES) * BF16, "system", "logits readback")))
    for step in range(DECODE_STEPS):
        t.comment("decode step %d" % step)
        if (PROMPT + step) % KV_BLOCK == 0:
            for layer in range(LAYERS):
                kv_block(t, layer)
        residual = [t.alloc(dev, BATCH * HIDDEN * BF16, "l1") for dev in range(DEVICES)]
        for layer in range(LAYERS):
            for dev in range(DEVICES):
                act = t.alloc(dev, BATCH * FFN // DEVICES * BF16, "l1")
                t.free(dev, act)
            if layer % 8 == 7:
                t.sleep(DECODE_MS_PER_8_LAYERS)
        for dev in range(DEVICES):
            logits = t.alloc(dev, BATCH * (VOCAB // DEVICES) * BF16, "dram")
            t.free(dev, residual[dev])
            t.free(dev, logits)
        t.sleep(DECODE_MS_SAMPLING)
    t.comment("--- teardown: trace released, program cache cleared; weights and KV stay ---")
    for dev, addr in steady:
        t.free(dev, addr)
    for dev, cb_id in cbs:
        t.free(dev, cb_id)


def main():
    t = Trace()
    for dev in range(DEVICES):
        t.lines.append("device %d wormhole_b0 %d" % (dev, CORES))
    weights(t)
    prefill(t)
    decode(t)

    totals = t.totals()
    header = [
        "# llm_inference_2x_wormhole.trace - generated by scripts/gen-llm-trace.py; do not edit.",
        "#",
        "# An 8B-parameter Llama-style model (bf16) served tensor-parallel on the two",
        "# Wormhole B0 chips of an n300: weights (~7.5 GiB a chip, 10-100 MiB tensors)",
        "# resident in DRAM, prefill of %d users x %d tokens, then %d decode steps with"
        % (BATCH, PROMPT, DECODE_STEPS),
        "# a paged KV cache growing by one %d-token block per layer every %d steps, L1"
        % (KV_BLOCK, KV_BLOCK),
        "# activations allocated and freed every layer, circular buffers per program and",
        "# kernel binaries loaded once per program. About 7 s at --speed 1.",
        "#",
        "# End state: the trace frees everything except the weights and the KV cache",
        "# (and kernel binaries, which have no free event), like a server idling",
        "# between requests. Replayed with --hold it shows that state; a replay that",
        "# just exits leaves it to the reaper as a leak; --cleanup frees it.",
        "#",
        "# tests/sh/test_replay.sh compares the segment after a replay with these lines:",
    ]
    for dev in sorted(totals):
        for mtype in ("dram", "l1", "system", "l1_small", "trace", "cb", "kernel", "buffers"):
            if totals[dev].get(mtype):
                header.append("# expect: device %d %s %d" % (dev, mtype, totals[dev][mtype]))
    out = sys.stdout
    out.write("\n".join(header + [""] + t.lines) + "\n")


if __name__ == "__main__":
    main()
