"""The bench's PyTorch baseline: the network bench/torch/emit.ts emitted from the IR, trained with
PyTorch's own autograd and Adam on this CPU. Run by bench/torch/torch-step.ts:

    step.py CONFIG.json

CONFIG names the emitted module's folder, a safetensors file of weights in the IR's layouts, and
either {"mode": "forward", inputs, output}: the raw network on fixed inputs, written as float32,
for the parity check against onnxruntime, or {"mode": "train", ...}: ms per EDM training step
(forward, loss, backward, gradient clipping, Adam, EMA) on the given threads. Prints JSON.
"""

import json
import struct
import sys
import time

import numpy as np
import torch

DTYPES = {"F32": np.float32, "I32": np.int32, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        data = np.frombuffer(raw[8 + size + start : 8 + size + end], dtype=DTYPES[info["dtype"]])
        out[name] = torch.from_numpy(data.reshape(info["shape"]).copy())
    return out


def to_torch_layout(value, perm):
    """IR layout -> PyTorch's: `perm` is the parameter's axis order from its layout kind
    (src/compiler/ops/param-layout.ts), e.g. linear [in, out] -> [out, in] is (1, 0)."""
    return value if perm is None else value.permute(*perm).contiguous()


def load_net(cfg):
    sys.path[:0] = [cfg["module"]]
    import model  # noqa: PLC0415 (emitted at run time)

    weights = read_safetensors(cfg["weights"])
    params = {}
    for name, value in weights.items():
        v = to_torch_layout(value, cfg["layouts"].get(name))
        params[name] = v.requires_grad_(name in cfg["trainable"])
    return model.Net(params), params


def forward(cfg):
    net, _ = load_net(cfg)
    net.eval()
    inputs = read_safetensors(cfg["inputs"])
    y = inputs["y"].long() if "y" in inputs else None
    with torch.no_grad():
        out = net(inputs["x"], inputs["t"], y)
    out.numpy().astype(np.float32).tofile(cfg["output"])
    return {"shape": list(out.shape)}


def matmul_gflops(threads, n=2048, repeats=5):
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def train(cfg):
    net, params = load_net(cfg)
    net.train()
    trainable = [params[n] for n in cfg["trainable"]]
    ema = [p.detach().clone() for p in trainable]
    t = cfg["training"]
    opt_class = torch.optim.AdamW if t["optimizer"] == "adamw" else torch.optim.Adam
    opt = opt_class(trainable, lr=t["lr"], betas=tuple(t["betas"]), eps=1e-8, weight_decay=t["weightDecay"])
    edm = cfg["edm"]
    b, c, s = cfg["batch"], cfg["channels"], cfg["size"]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(b, c, s, s, generator=g) * 2 - 1
    labels = torch.randint(0, max(cfg["classes"], 1), (b,), generator=g)
    sd = edm["sigmaData"]

    def step():
        sigma = torch.exp(torch.randn(b) * edm["pStd"] + edm["pMean"]).reshape(b, 1, 1, 1)
        noisy = x + sigma * torch.randn_like(x)
        y = None
        if cfg["classes"] > 0:
            drop = torch.rand(b) < cfg["labelDropout"]
            y = torch.where(drop, torch.full_like(labels, cfg["classes"]), labels)
        s2 = sigma**2 + sd**2
        c_out = sigma * sd / s2.sqrt()
        f = net(noisy / s2.sqrt(), (sigma.log() / 4).reshape(b), y)
        denoised = sd**2 / s2 * noisy + c_out * f
        loss = ((denoised - x) ** 2 / c_out**2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if t["gradClip"]:
            torch.nn.utils.clip_grad_norm_(trainable, t["gradClip"])
        opt.step()
        with torch.no_grad():
            torch._foreach_mul_(ema, t["emaDecay"])
            torch._foreach_add_(ema, trainable, alpha=1 - t["emaDecay"])
        return loss.item()

    # One thread count per process: OpenBLAS sizes its own pool from the environment at load.
    threads = cfg["threads"]
    torch.set_num_threads(threads)
    for _ in range(cfg["warmup"]):
        step()
    times = []
    for _ in range(cfg["steps"]):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    return {
        "torch": torch.__version__,
        "threads": threads,
        "stepMs": sorted(times)[len(times) // 2],
        "matmulGflops": matmul_gflops(threads),
    }


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        config = json.load(f)
    result = forward(config) if config["mode"] == "forward" else train(config)
    print(json.dumps(result))
