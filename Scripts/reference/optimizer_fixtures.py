"""Reference parameter trajectories for Recurrent's optimizers, computed by PyTorch's.

Writes Tests/RecurrentIOTests/Fixtures/optimizers.safetensors: a starting parameter "initial" (3, 4), five
gradients "grad.<t>", and for each optimizer configuration the parameter after each step, "<name>.step<t>".
Float64 throughout. Run from the repository root: python Scripts/reference/optimizer_fixtures.py
"""

import os
import torch
from safetensors.torch import save_file

CONFIGS = {
    "sgd": lambda p: torch.optim.SGD([p], lr=0.1),
    "sgd_momentum": lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9),
    "sgd_nesterov_decay": lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": lambda p: torch.optim.Adam([p], lr=0.01),
    "adam_decay": lambda p: torch.optim.Adam([p], lr=0.01, weight_decay=0.1),
    "adamw": lambda p: torch.optim.AdamW([p], lr=0.01, weight_decay=0.1),
    "rmsprop": lambda p: torch.optim.RMSprop([p], lr=0.01),
    "rmsprop_momentum": lambda p: torch.optim.RMSprop([p], lr=0.01, momentum=0.9),
    "adagrad": lambda p: torch.optim.Adagrad([p], lr=0.1),
}
STEPS = 5


def main():
    torch.manual_seed(7)
    initial = torch.randn(3, 4, dtype=torch.float64)
    grads = [torch.randn(3, 4, dtype=torch.float64) for _ in range(STEPS)]
    tensors = {"initial": initial}
    tensors.update({f"grad.{t}": g for t, g in enumerate(grads)})
    for name, make in CONFIGS.items():
        p = torch.nn.Parameter(initial.clone())
        optimizer = make(p)
        for t, g in enumerate(grads):
            optimizer.zero_grad()
            p.grad = g.clone()
            optimizer.step()
            tensors[f"{name}.step{t}"] = p.detach().clone()
    path = os.path.join("Tests", "RecurrentIOTests", "Fixtures", "optimizers.safetensors")
    save_file(tensors, path, metadata={"torch": torch.__version__})
    print("wrote", path)


if __name__ == "__main__":
    main()
