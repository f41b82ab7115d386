"""PyTorch's side of `recurrent bench rnn`: the same shapes and modes, timed the same way.

Prints {"ready": true} once torch is imported (and exits non-zero when it cannot be), then reads one JSON object
per line on stdin ({"cell": "lstm", "shape": "a", "T": .., "B": .., "I": .., "H": .., "L": ..,
"modes": [...], "iterations": n, "threads": n}) and prints one JSON object per measurement:
{"cell", "shape", "mode", "ms"} with ms the median over the timed iterations, after two warm-up ones.
"""

import json
import statistics
import sys
import time

import torch
from torch import nn


def run(request):
    torch.set_num_threads(request["threads"])
    T, B, I, H, L = (request[k] for k in ("T", "B", "I", "H", "L"))
    module = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[request["cell"]]
    layer = module(I, H, num_layers=L, batch_first=True)
    for mode in request["modes"]:
        x = torch.randn(B, T, I, requires_grad=(mode == "train+dx"))
        times = []
        for iteration in range(request["iterations"] + 2):
            start = time.perf_counter()
            if mode == "infer":
                with torch.no_grad():
                    layer(x)
            else:
                layer.zero_grad(set_to_none=True)
                output, _ = layer(x)
                output.sum().backward()
            if iteration >= 2:
                times.append((time.perf_counter() - start) * 1000)
        print(json.dumps({"cell": request["cell"], "shape": request["shape"], "mode": mode, "ms": statistics.median(times)}), flush=True)


print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    if line.strip():
        run(json.loads(line))
