"""A tensor's bytes without numpy (the torch CPU wheel does not pull it in): what checkpoints,
token files and the corpus fingerprint write or hash."""
from __future__ import annotations

import ctypes
import sys

import torch


def tensor_bytes(tensor: torch.Tensor, *, little_endian: bool = False) -> bytes:
    """The bytes of ``tensor``'s values in order (a view or a strided tensor is copied first): in
    the machine's byte order, or little-endian (what safetensors and the fingerprint ask for)."""
    t = tensor.detach().to("cpu").contiguous()
    if little_endian and sys.byteorder == "big" and t.element_size() > 1:
        t = t.view(torch.uint8).reshape(-1, t.element_size()).flip(1).contiguous()
    size = t.numel() * t.element_size()
    return ctypes.string_at(t.data_ptr(), size) if size else b""
