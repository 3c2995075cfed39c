"""Training with Block AttnRes: plain residuals vs PyTorch ops vs attnres.

A Llama-style decoder (RMSNorm, RoPE, causal attention, SwiGLU; bf16 weights,
AdamW) is trained on synthetic tokens three ways:
  residual - the control: x = x + f(norm(x)) after every sub-layer,
  torch    - Block AttnRes (each sub-layer's input is softmax attention over
             the completed block sums and the running partial block sum),
             mixed with PyTorch ops on a stacked tensor,
  attnres  - the same model, mixed by attnres fed the list of block tensors
             (no stack).
Reports step time, tokens/s and peak memory for each, and checks that the two
AttnRes runs compute the same training: every parameter's gradient after one
step from the same seed (cosine similarity) and the losses of the first steps.

    python bench/train_compare.py --json bench/results/train-h100.json
"""

import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def rope_tables(seq, head_dim, device, base=10000.0):
    inv = 1.0 / base ** (torch.arange(0, head_dim, 2, device=device).float() / head_dim)
    angles = torch.outer(torch.arange(seq, device=device).float(), inv)
    return angles.cos(), angles.sin()


def apply_rope(x, cos, sin):
    # x: [B, H, T, hd]; rotate interleaved halves in fp32.
    x1, x2 = x.float().unflatten(-1, (-1, 2)).unbind(-1)
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return out.flatten(-2).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.wqkv = nn.Linear(dim, 3 * dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)

    def forward(self, x, cos, sin):
        b, t, d = x.shape
        q, k, v = self.wqkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.wo(y.transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Layer(nn.Module):
    def __init__(self, cfg, mode):
        super().__init__()
        dim = cfg.dim
        self.attn_norm = nn.RMSNorm(dim, eps=1e-6)
        self.attn = Attention(dim, cfg.heads)
        self.mlp_norm = nn.RMSNorm(dim, eps=1e-6)
        self.mlp = MLP(dim, cfg.hidden)
        if mode != "residual":
            from attnres.torch import BlockAttnRes
            self.attn_res = BlockAttnRes(dim, impl=mode)
            self.mlp_res = BlockAttnRes(dim, impl=mode)


class Model(nn.Module):
    def __init__(self, cfg, mode):
        super().__init__()
        self.cfg, self.mode = cfg, mode
        self.embed = nn.Embedding(cfg.vocab, cfg.dim)
        self.layers = nn.ModuleList(Layer(cfg, mode) for _ in range(cfg.layers))
        self.norm = nn.RMSNorm(cfg.dim, eps=1e-6)
        self.head = nn.Linear(cfg.dim, cfg.vocab, bias=False)
        if mode != "residual":
            from attnres.torch import BlockAttnRes
            self.final_res = BlockAttnRes(cfg.dim, impl=mode)
        self.rope = None

    def forward(self, tokens):
        if self.rope is None or self.rope[0].shape[0] != tokens.shape[1]:
            self.rope = rope_tables(tokens.shape[1], self.cfg.dim // self.cfg.heads, tokens.device)
        cos, sin = self.rope
        x = self.embed(tokens)
        if self.mode == "residual":
            for layer in self.layers:
                x = x + layer.attn(layer.attn_norm(x), cos, sin)
                x = x + layer.mlp(layer.mlp_norm(x))
        else:
            per_block = self.cfg.layers // self.cfg.blocks
            blocks, partial = [x], None
            for i, layer in enumerate(self.layers):
                for res, norm, f in ((layer.attn_res, layer.attn_norm,
                                      lambda y: layer.attn(y, cos, sin)),
                                     (layer.mlp_res, layer.mlp_norm, layer.mlp)):
                    h = res(blocks if partial is None else blocks + [partial])
                    out = f(norm(h))
                    partial = out if partial is None else partial + out
                if (i + 1) % per_block == 0:
                    blocks.append(partial)
                    partial = None
            x = self.final_res(blocks if partial is None else blocks + [partial])
        logits = self.head(self.norm(x))
        # Next-token loss in fp32.
        return F.cross_entropy(logits[:, :-1].float().flatten(0, 1), tokens[:, 1:].flatten())


def batch(cfg, step, device):
    """Synthetic but learnable tokens: a random segment repeated along the
    sequence (later copies are predictable by induction)."""
    gen = torch.Generator().manual_seed(1000 + step)
    seg = torch.randint(0, cfg.vocab, (cfg.batch, cfg.segment), generator=gen)
    return seg.repeat(1, cfg.seq // cfg.segment).to(device)


def make_model(cfg, mode, seed):
    torch.manual_seed(seed)
    return Model(cfg, mode).to(device="cuda", dtype=torch.bfloat16)


def train(cfg, mode, seed, steps, state=None):
    model = make_model(cfg, mode, seed)
    if state is not None:
        model.load_state_dict(state)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95),
                            weight_decay=0.1, eps=1e-8)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    losses, times = [], []
    for step in range(steps):
        tokens = batch(cfg, step, "cuda")
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = model(tokens)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        losses.append(loss.item())
    peak = torch.cuda.max_memory_allocated()
    del model, opt
    torch.cuda.empty_cache()
    return losses, times, peak


def gradient_agreement(cfg, seed):
    """Gradients of one step from the same weights and batch, torch vs
    attnres: per-parameter cosine similarity."""
    a = make_model(cfg, "torch", seed)
    b = make_model(cfg, "attnres", seed)
    b.load_state_dict(a.state_dict())
    tokens = batch(cfg, 0, "cuda")
    for m in (a, b):
        m(tokens).backward()
    worst, both_zero, rows = 1.0, 0, []
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        ga = (pa.grad if pa.grad is not None else torch.zeros_like(pa)).double().flatten()
        gb = (pb.grad if pb.grad is not None else torch.zeros_like(pb)).double().flatten()
        na, nb = ga.norm().item(), gb.norm().item()
        if na == 0.0 and nb == 0.0:
            both_zero += 1  # e.g. the norm weights of a zero query: dg = q * c = 0
            continue
        cos = (ga @ gb).item() / (na * nb) if na > 0 and nb > 0 else 0.0
        rows.append((name, cos))
        worst = min(worst, cos)
    del a, b
    torch.cuda.empty_cache()
    return worst, both_zero, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=32768)
    ap.add_argument("--seq", type=int, default=2048)
    ap.add_argument("--segment", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    cfg = ap.parse_args()
    cfg.hidden = 256 * math.ceil(8 * cfg.dim / 3 / 256)
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to train", file=sys.stderr)
        return 2
    device = torch.cuda.get_device_name()
    tokens_per_step = cfg.batch * cfg.seq
    print(f"device: {device}; dim {cfg.dim}, {cfg.layers} layers, {cfg.blocks} blocks, "
          f"{tokens_per_step} tokens/step, {cfg.steps} steps")

    worst, both_zero, grads = gradient_agreement(cfg, cfg.seed)
    print(f"gradients after one step, torch vs attnres: min cosine {worst:.6f} over "
          f"{len(grads)} parameters ({both_zero} exactly zero in both)")

    runs = {}
    for mode in ("residual", "torch", "attnres"):
        losses, times, peak = train(cfg, mode, cfg.seed, cfg.steps)
        steady = times[10:] if len(times) > 20 else times
        step_ms = 1e3 * statistics.median(steady)
        runs[mode] = {"losses": losses, "step_ms": step_ms,
                      "tokens_per_s": tokens_per_step / (step_ms * 1e-3),
                      "peak_GiB": peak / 2**30}
        print(f"{mode:>9}: step {step_ms:8.2f} ms, {runs[mode]['tokens_per_s']:10.0f} tokens/s, "
              f"peak {peak / 2**30:6.2f} GiB, loss {losses[0]:.3f} -> {losses[-1]:.3f}", flush=True)

    base = runs["residual"]
    first = min(10, cfg.steps)
    loss_diff = max(abs(x - y) for x, y in zip(runs["torch"]["losses"][:first],
                                               runs["attnres"]["losses"][:first]))
    print(f"\nlosses of the first {first} steps, torch vs attnres: max |difference| {loss_diff:.4f}")
    print("step   torch     attnres")
    for i in range(first):
        print(f"{i:4d} {runs['torch']['losses'][i]:9.4f} {runs['attnres']['losses'][i]:9.4f}")
    print("\n| run | step ms | tokens/s | peak GiB | vs residual time | vs residual memory |")
    print("| --- | --- | --- | --- | --- | --- |")
    for mode, r in runs.items():
        print(f"| {mode} | {r['step_ms']:.2f} | {r['tokens_per_s']:.0f} | {r['peak_GiB']:.2f} | "
              f"{100 * (r['step_ms'] / base['step_ms'] - 1):+.1f}% | "
              f"{r['peak_GiB'] - base['peak_GiB']:+.2f} GiB |")
    if cfg.json:
        with open(cfg.json, "w") as f:
            json.dump({"device": device, "config": {k: v for k, v in vars(cfg).items() if k != "json"},
                       "gradient_min_cosine": worst, "gradients_both_zero": both_zero,
                       "gradient_cosines": grads, "first_losses_max_diff": loss_diff,
                       "runs": runs}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
