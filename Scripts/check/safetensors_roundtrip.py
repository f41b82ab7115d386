"""Loads a safetensors file with Python's safetensors package and prints every tensor as JSON
({"name": {"dtype": ..., "shape": [...], "values": [...]}}); with a second argument, also writes a file of its
own there for Recurrent to read back. Used by the tests."""

import json
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

tensors = load_file(sys.argv[1])
print(json.dumps({name: {"dtype": str(array.dtype), "shape": list(array.shape), "values": array.ravel().tolist()} for name, array in tensors.items()}))
if len(sys.argv) > 2:
    save_file({"from_python": np.arange(6, dtype=np.float32).reshape(2, 3) / 4, "doubles": np.array([1e-300, -2.5])}, sys.argv[2], metadata={"writer": "python"})
