"""Reference values for Recurrent's RNN, LSTM and GRU layers, computed by PyTorch.

For each configuration this writes one small safetensors file under Tests/RecurrentIOTests/Fixtures/pytorch/:
the layer's state_dict ("param.<name>"), an input batch, per-sample lengths, initial states, the outputs and final
states, fixed random weights defining a loss L = Σ output·W_out + Σ h_n·W_h (+ Σ c_n·W_c), and the gradients of
L with respect to the input, the initial states and every parameter ("grad.<name>"). Everything is Float64, so
the Swift side can match it to 1e-10 in Float64 and to 1e-5 in Float32.

Run from the repository root:  python Scripts/reference/recurrent_fixtures.py   (needs torch and safetensors)
"""

import os
import torch
from torch import nn
from safetensors.torch import save_file

OUT = os.path.join("Tests", "RecurrentIOTests", "Fixtures", "pytorch")

# name, module, nonlinearity, layers, bidirectional, lengths (None: all steps)
CONFIGS = [
    ("rnn_tanh_1", "RNN", "tanh", 1, False, None),
    ("rnn_relu_1_lengths", "RNN", "relu", 1, False, [5, 2, 4]),
    ("rnn_tanh_2_bi_lengths", "RNN", "tanh", 2, True, [3, 5, 1]),
    ("rnn_relu_1_bi", "RNN", "relu", 1, True, None),
    ("lstm_1", "LSTM", None, 1, False, None),
    ("lstm_1_lengths", "LSTM", None, 1, False, [2, 5, 3]),
    ("lstm_2", "LSTM", None, 2, False, None),
    ("lstm_1_bi_lengths", "LSTM", None, 1, True, [5, 1, 3]),
    ("lstm_2_bi_lengths", "LSTM", None, 2, True, [4, 5, 2]),
    ("gru_1", "GRU", None, 1, False, None),
    ("gru_1_lengths", "GRU", None, 1, False, [1, 5, 3]),
    ("gru_2", "GRU", None, 2, False, None),
    ("gru_2_bi_lengths", "GRU", None, 2, True, [5, 3, 2]),
    ("gru_1_bi", "GRU", None, 1, True, None),
]
BATCH, STEPS, INPUT, HIDDEN = 3, 5, 4, 3


def main():
    os.makedirs(OUT, exist_ok=True)
    for index, (name, module, nonlinearity, layers, bidirectional, lengths) in enumerate(CONFIGS):
        torch.manual_seed(1000 + index)
        kwargs = dict(input_size=INPUT, hidden_size=HIDDEN, num_layers=layers, bidirectional=bidirectional, batch_first=True)
        if module == "RNN":
            kwargs["nonlinearity"] = nonlinearity
        layer = getattr(nn, module)(**kwargs).double()
        directions = 2 if bidirectional else 1
        x = torch.randn(BATCH, STEPS, INPUT, dtype=torch.float64, requires_grad=True)
        h0 = torch.randn(layers * directions, BATCH, HIDDEN, dtype=torch.float64, requires_grad=True)
        c0 = torch.randn(layers * directions, BATCH, HIDDEN, dtype=torch.float64, requires_grad=True)
        state = (h0, c0) if module == "LSTM" else h0

        if lengths is None:
            output, final = layer(x, state)
        else:
            packed = nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
            packed_output, final = layer(packed, state)
            output, _ = nn.utils.rnn.pad_packed_sequence(packed_output, batch_first=True, total_length=STEPS)
        h_n, c_n = final if module == "LSTM" else (final, None)

        w_out = torch.randn_like(output)
        w_h = torch.randn_like(h_n)
        loss = (output * w_out).sum() + (h_n * w_h).sum()
        tensors = {}
        if c_n is not None:
            w_c = torch.randn_like(c_n)
            loss = loss + (c_n * w_c).sum()
            tensors.update({"c0": c0.detach(), "c_n": c_n.detach(), "weight.c_n": w_c})
        loss.backward()

        tensors.update({
            "input": x.detach(), "h0": h0.detach(), "output": output.detach(), "h_n": h_n.detach(),
            "weight.output": w_out, "weight.h_n": w_h, "grad.input": x.grad, "grad.h0": h0.grad,
        })
        if c_n is not None:
            tensors["grad.c0"] = c0.grad
        if lengths is not None:
            tensors["lengths"] = torch.tensor(lengths, dtype=torch.int64)
        for parameter_name, parameter in layer.named_parameters():
            tensors["param." + parameter_name] = parameter.detach()
            tensors["grad." + parameter_name] = parameter.grad
        metadata = {
            "module": module, "nonlinearity": nonlinearity or "", "num_layers": str(layers),
            "bidirectional": str(bidirectional).lower(), "torch": torch.__version__,
        }
        save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(OUT, name + ".safetensors"), metadata=metadata)
        print("wrote", name)


if __name__ == "__main__":
    main()
