"""`dlgrade bench`: the performance benchmarks.

For each assignment present and each device: the reference's time against the native
PyTorch op doing the same job (F.conv2d for convolution, F.max_pool2d, F.scaled_dot_product
_attention, torch.optim.Adam, ...), timed in this process with grader.engine.perf's Clock (one
thread, gc off, L2 flushed on CUDA), interleaved, median of per-round ratios; the
separation of the performance limits (from the latest `dlgrade calibrate --save`); and the
grader's own overhead (a worker's spawn time and a no-op call's round trip). Writes
docs/benchmarks/bench-<date>.json and .md.

BASELINES maps an assignment to its cases; an assignment not yet in the tree (or a
reference function not yet written) is skipped with a note, never an error.
"""

from __future__ import annotations

import datetime
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from grader.boundary.session import WorkerSession, Zygote
from grader.engine import assignments, clock, grading, perf


@dataclass
class Case:
    label: str
    fn: str
    """The reference function timed."""
    make: Callable
    """make(gen, device, dtype) -> (args, kwargs) for the reference."""
    native: Callable
    """native(*args, **kwargs) -> anything: the PyTorch op doing the same job."""
    native_name: str


def _r(g, *shape, dtype, device, scale=1.0):
    return (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(device, dtype)


def _backprop_cases(size):
    N = 4096 * size

    def linear(g, dev, dt):
        return (_r(g, N, 256, dtype=dt, device=dev), _r(g, 256, 32, dtype=dt, device=dev),
                _r(g, 32, dtype=dt, device=dev)), {}

    def ce(g, dev, dt):
        return (_r(g, N, 100, dtype=dt, device=dev, scale=3.0),
                torch.randint(0, 100, (N,), generator=g).to(dev)), {}

    def native_ce(z, y):
        z = z.detach().requires_grad_()
        loss = F.cross_entropy(z, y)
        (dz,) = torch.autograd.grad(loss, z)
        return loss, dz

    widths = (32, 64, 64, 10)

    def mlp(g, dev, dt):
        params = {}
        for i in range(1, len(widths)):
            params[f"W{i}"] = _r(g, widths[i - 1], widths[i], dtype=dt, device=dev,
                                 scale=widths[i - 1] ** -0.5)
            params[f"b{i}"] = _r(g, widths[i], dtype=dt, device=dev, scale=0.1)
        return (params, _r(g, N // 2, widths[0], dtype=dt, device=dev),
                torch.randint(0, widths[-1], (N // 2,), generator=g).to(dev)), {}

    def native_mlp(params, x, y):
        ps = {k: v.detach().requires_grad_() for k, v in params.items()}
        L = len(widths) - 1
        h = x
        for i in range(1, L + 1):
            h = F.linear(h, ps[f"W{i}"].T, ps[f"b{i}"])
            if i < L:
                h = F.relu(h)
        loss = F.cross_entropy(h, y)
        return loss, dict(zip(ps, torch.autograd.grad(loss, list(ps.values()))))

    return [
        Case("linear_forward", "linear_forward", linear, lambda x, w, b: F.linear(x, w.T, b),
             "F.linear"),
        Case("mlp_loss 32-64-64-10", "mlp_loss", mlp, native_mlp, "F.linear/relu/"
             "cross_entropy + autograd"),
        Case("softmax_cross_entropy", "softmax_cross_entropy", ce, native_ce,
             "F.cross_entropy + autograd"),
    ]


def _convolution_cases(size):
    def conv(g, dev, dt):
        return (_r(g, 8 * size, 16, 32, 32, dtype=dt, device=dev),
                _r(g, 32, 16, 3, 3, dtype=dt, device=dev), _r(g, 32, dtype=dt, device=dev)), \
            {"stride": 1, "padding": 1}

    return [Case("conv2d_forward 3x3", "conv2d_forward", conv,
                 lambda x, w, b, stride, padding: F.conv2d(x, w, b, stride, padding),
                 "F.conv2d")]


def _pooling_cases(size):
    def pool(g, dev, dt):
        return (_r(g, 16 * size, 32, 32, 32, dtype=dt, device=dev), 2), {"stride": 2}

    return [
        Case("maxpool2d_forward 2x2", "maxpool2d_forward", pool,
             lambda x, k, stride: F.max_pool2d(x, k, stride), "F.max_pool2d"),
        Case("avgpool2d_forward 2x2", "avgpool2d_forward", pool,
             lambda x, k, stride: F.avg_pool2d(x, k, stride), "F.avg_pool2d"),
    ]


def _attention_cases(size):
    def att(g, dev, dt):
        return tuple(_r(g, 8 * size, 4, 128, 32, dtype=dt, device=dev) for _ in range(3)), {}

    return [Case("attention_forward", "attention_forward", att,
                 lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
                 "F.scaled_dot_product_attention")]


def _rnn_cases(size):
    N, T, D, H = 64 * size, 32, 64, 128

    def rnn(g, dev, dt):
        return (_r(g, N, T, D, dtype=dt, device=dev), _r(g, N, H, dtype=dt, device=dev),
                _r(g, D, H, dtype=dt, device=dev, scale=D ** -0.5),
                _r(g, H, H, dtype=dt, device=dev, scale=H ** -0.5),
                _r(g, H, dtype=dt, device=dev)), {}

    def native(x, h0, Wx, Wh, b):
        m = torch.nn.RNN(D, H, batch_first=True).to(x.device, x.dtype)
        with torch.no_grad():
            m.weight_ih_l0.copy_(Wx.T)
            m.weight_hh_l0.copy_(Wh.T)
            m.bias_ih_l0.copy_(b)
            m.bias_hh_l0.zero_()
            return m(x, h0.unsqueeze(0))[0]

    return [Case("rnn_forward", "rnn_forward", rnn, native, "torch.nn.RNN")]


def _dropout_cases(size):
    def drop(g, dev, dt):
        return (_r(g, 1024 * size, 1024, dtype=dt, device=dev), 0.5), {}

    return [Case("dropout_forward", "dropout_forward", drop,
                 lambda x, p: F.dropout(x, p, True), "F.dropout")]


def _adam_cases(size):
    n = 1 << 20

    def adam(g, dev, dt):
        return (_r(g, n * size, dtype=dt, device=dev), _r(g, n * size, dtype=dt, device=dev),
                None), {}

    def native(w, dw, state):
        p = torch.nn.Parameter(w.clone())
        p.grad = dw
        torch.optim.Adam([p], foreach=False).step()
        return p

    return [Case("adam_step (first step)", "adam_step", adam, native, "torch.optim.Adam")]


def _normalization_cases(size):
    def bn(g, dev, dt):
        C = 32
        return (_r(g, 64 * size, C, 16, 16, dtype=dt, device=dev),
                *(_r(g, C, dtype=dt, device=dev) for _ in range(3)),
                _r(g, C, dtype=dt, device=dev).abs() + 0.5, True), {}

    def native_bn(x, gamma, beta, mean, var, train):
        return F.batch_norm(x, mean.clone(), var.clone(), gamma, beta, train)

    def ln(g, dev, dt):
        D = 256
        return (_r(g, 4096 * size, D, dtype=dt, device=dev), _r(g, D, dtype=dt, device=dev),
                _r(g, D, dtype=dt, device=dev)), {}

    return [Case("batchnorm_forward (training)", "batchnorm_forward", bn, native_bn,
                 "F.batch_norm"),
            Case("layernorm_forward", "layernorm_forward", ln,
                 lambda x, gamma, beta: F.layer_norm(x, (x.shape[-1],), gamma, beta),
                 "F.layer_norm")]


BASELINES: dict[str, Callable[[int], list[Case]]] = {
    "backprop": _backprop_cases,
    "convolution": _convolution_cases,
    "pooling": _pooling_cases,
    "rnn": _rnn_cases,
    "attention": _attention_cases,
    "dropout": _dropout_cases,
    "adam": _adam_cases,
    "normalization": _normalization_cases,
}


def time_pair(ref: Callable, native: Callable, make: Callable, device: str,
              dtype: torch.dtype, rounds: int = 9, warmup: int = 2) -> dict:
    timer = clock.Clock(device)
    g = torch.Generator().manual_seed(0)
    ratios, ref_ns, nat_ns = [], [], []
    with clock.TIMING_LOCK.turn(device), clock.timing_conditions(device):
        for i in range(warmup + rounds):
            args, kwargs = make(g, device, dtype)
            _, a, _ = clock.call(ref, args, kwargs)
            _, b, _ = timer.call(native, args, kwargs)
            if i >= warmup:
                ref_ns.append(a)
                nat_ns.append(b)
                ratios.append(a / max(b, 1))
    return {"reference_ms": statistics.median(ref_ns) / 1e6,
            "native_ms": statistics.median(nat_ns) / 1e6, "ratio": statistics.median(ratios)}


def overhead(zygote: Zygote, device: str, n: int = 30) -> dict:
    src = "def noop():\n    return None\n"
    spawn = []
    for _ in range(5):
        t0 = time.perf_counter_ns()
        with WorkerSession(zygote, "dlgrade_noop", src, device=device) as s:
            s.ensure()
            spawn.append(time.perf_counter_ns() - t0)
    with WorkerSession(zygote, "dlgrade_noop", src, device=device) as s:
        rts = []
        for _ in range(n):
            r, _ = s.call("noop", record_ops=False)
            rts.append(r.elapsed_ns)
        timed = []
        for _ in range(n):
            timed.append(s.time("noop", [((), {})]).elapsed_ns)
    return {"spawn_ms": statistics.median(spawn) / 1e6,
            "noop_call_ms": statistics.median(rts) / 1e6,
            "noop_timed_call_ms": statistics.median(timed) / 1e6}


def calibration_summary(name: str, device: str, root: Path) -> list[dict]:
    path = root / "docs" / "benchmarks" / f"calibrate-{name}-{perf.device_class(device)}.json"
    if not path.exists():
        return []
    try:
        return json.loads(path.read_text()).get("proposals", [])
    except (OSError, ValueError):
        return []


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{platform.node()}: {cpu} x{os.cpu_count()}{gpu}, torch {torch.__version__}"


def run(devices: list[str], *, rounds: int = 9, size: int = 1, root: Path | None = None,
        names: list[str] | None = None) -> dict:
    root = root or assignments.project_root()
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() \
        else []
    out = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
           "machine": machine(), "load": load, "rounds": rounds, "results": []}
    present = set(assignments.available(root))
    with Zygote() as zygote:
        for device in devices:
            out.setdefault("overhead", {})[device] = overhead(zygote, device)
            dtype = perf.DEFAULT_DTYPES[perf.device_class(device)]
            for name, cases in BASELINES.items():
                if names and name not in names:
                    continue
                entry = {"assignment": name, "device": device, "cases": []}
                out["results"].append(entry)
                if name not in present:
                    entry["note"] = "not present in this tree"
                    continue
                a = assignments.load(name, root)
                suite = grading.load_suite(a, assignments.reference_dir(name, root))
                entry["limits"] = calibration_summary(name, device, root)
                for case in cases(size):
                    row = {"case": case.label, "native": case.native_name}
                    ref = getattr(suite.reference, case.fn, None)
                    if ref is None:
                        row["note"] = f"the reference has no {case.fn}"
                    else:
                        try:
                            row.update(time_pair(ref, case.native, case.make, device, dtype,
                                                 rounds))
                        except Exception as e:  # noqa: BLE001 - one case, not the bench
                            row["note"] = f"{type(e).__name__}: {e}"[:200]
                    entry["cases"].append(row)
    return out


def markdown(data: dict) -> str:
    from grader.classroom.report import table

    lines = [f"# dlgrade benchmarks, {data['date']}", "",
             f"Machine: {data['machine']}; load average at start: "
             f"{' '.join(data.get('load', []))}; median of {data['rounds']} rounds, "
             "one thread, gc off.", "", "## Reference against the native PyTorch op", ""]
    rows = []
    for e in data["results"]:
        if e.get("note"):
            rows.append([e["assignment"], e["device"], "-", "-", "-", "-", e["note"]])
        for c in e["cases"]:
            if "ratio" in c:
                rows.append([e["assignment"], e["device"], c["case"], c["native"],
                             f"{c['reference_ms']:.3g}", f"{c['native_ms']:.3g}",
                             f"{c['ratio']:.2f}x"])
            else:
                rows.append([e["assignment"], e["device"], c["case"], c["native"], "-", "-",
                             c.get("note", "")])
    lines.append(table(rows, ["assignment", "device", "case", "native op", "reference ms",
                              "native ms", "reference / native"]))
    lines += ["", "## Performance limits and their separation", ""]
    rows = []
    for e in data["results"]:
        for p in e.get("limits", []):
            slow, fast, limit = p.get("slowest_legit"), p.get("fastest_naive"), p["limit"]
            rows.append([e["assignment"], e["device"], p["test"], f"{limit:g}", _x(slow),
                         _x(fast), _x(limit / slow if slow else None),
                         _x(fast / limit if fast else None), _x(p.get("proposed"))])
    lines.append(table(rows, ["assignment", "device", "test", "limit", "slowest legitimate",
                              "fastest naive", "limit / slowest", "fastest / limit",
                              "proposed limit"]) if rows else
                 "(no calibration saved: run `dlgrade calibrate ASSIGNMENT --save`)")
    lines += ["", "## Grader overhead", ""]
    rows = [[d, f"{o['spawn_ms']:.1f}", f"{o['noop_call_ms']:.3f}",
             f"{o['noop_timed_call_ms']:.3f}"] for d, o in data.get("overhead", {}).items()]
    lines.append(table(rows, ["device", "worker spawn + load ms", "no-op call round trip ms",
                              "no-op timed call round trip ms"]))
    return "\n".join(lines) + "\n"


def _x(v):
    return "-" if v is None else f"{v:.2f}"


def write(data: dict, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = data["date"][:10]
    j = out_dir / f"bench-{stamp}.json"
    m = out_dir / f"bench-{stamp}.md"
    j.write_text(json.dumps(data, indent=1) + "\n")
    m.write_text(markdown(data))
    return j, m
