"""What an HDF5/NeXus file declares in its first bytes, for routing without opening it.

A sniff sees only the head (64 KiB). In files written by h5py or the NeXus API the small strings
(``definition`` values, ``NX_class`` attributes) and the link names of the first groups usually sit
in that head; when they do not, the head is inconclusive and the routing falls back to the
technique the share declares.
"""
from __future__ import annotations

import re

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: application definitions of X-ray absorption (NXxas, contributed NXxas_trans/_fluo/..., NXxasproc)
_XAS = re.compile(rb"NXxas[a-z_]*")
#: application definitions of powder diffraction
_POWDER = re.compile(rb"NXmonopd|NXxrd[a-z_]*|NXpowder[a-z_]*")


def is_hdf5(head: bytes) -> bool:
    """HDF5 superblock at offset 0 or after a user block (512, 1024, 2048... bytes)."""
    if head.startswith(HDF5_SIGNATURE):
        return True
    offset = 512
    while offset + 8 <= len(head):
        if head[offset:offset + 8] == HDF5_SIGNATURE:
            return True
        offset *= 2
    return False


def declares_xas(head: bytes) -> bool:
    """The head names an XAS application definition, or holds NXxas's detector group names."""
    if not is_hdf5(head):
        return False
    return bool(_XAS.search(head)) or (b"absorbed_beam" in head and b"incoming_beam" in head)


def declares_powder(head: bytes) -> bool:
    return is_hdf5(head) and bool(_POWDER.search(head))
