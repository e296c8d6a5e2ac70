"""Disk cache for generated offline datasets (generation takes seconds)."""

import hashlib
import json
import os

import numpy as np

from algoperf_lite.core.compiles import cache_root


def cached_arrays(name: str, config: dict, make):
    """``make()`` -> dict of arrays, stored under a key that hashes ``config``."""
    key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    path = os.path.join(cache_root(), f"{name}-{key}.npz")
    if os.path.exists(path):
        with np.load(path) as data:
            return dict(data)
    arrays = make()
    tmp = f"{path}.{os.getpid()}.tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return arrays
