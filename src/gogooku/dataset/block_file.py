"""``BlockFile``: a ``.npy`` array of shape (T, N, *rest) written without mapping it.

The file is created by ``np.lib.format.open_memmap`` (for the header and size) and then written
with one ``os.pwrite`` per date of a block of whole code runs: row ``t`` of a block starting at
code index ``n0`` lands at byte ``header + ((t·N + n0)·cell)``. The cache writer
(``gogooku.dataset.cache_writer``) and the normalised-feature file
(``gogooku.dataset.normalize``) write their arrays this way, so the process holds one block, not
a memory map of the whole array.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gogooku.dataset.cache import CacheError


class BlockFile:
    """A ``.npy`` file of shape (T, N, *rest) written by blocks of whole code runs (see module doc)."""

    def __init__(self, path: Path, dtype: np.dtype, shape: tuple[int, ...], fill: object) -> None:
        header = np.lib.format.open_memmap(path, "w+", dtype, shape)
        self.offset = header.offset
        del header
        self.dtype = np.dtype(dtype)
        self.shape = shape
        self.fill = fill
        self.cell = int(np.prod(shape[2:], dtype=np.int64)) * self.dtype.itemsize
        self.fd = os.open(path, os.O_RDWR)
        self._buffer = np.empty(0, dtype=self.dtype)

    def block(self, dates: int, width: int, *, filled: bool = True) -> np.ndarray:
        """A (dates, width, *rest) block pre-filled with the array's absent value (left as it
        is with ``filled=False``: the caller writes every cell).

        The block is a view of one buffer reused by the next call (grown when too small), so
        each batch refills memory already mapped instead of faulting in a fresh array.
        """
        shape = (dates, width, *self.shape[2:])
        size = int(np.prod(shape, dtype=np.int64))
        if self._buffer.size < size:
            self._buffer = np.empty(size, dtype=self.dtype)
        block = self._buffer[:size].reshape(shape)
        if filled:
            block.fill(self.fill)
        return block

    def write(self, block: np.ndarray, t0: int, n0: int) -> None:
        """Write ``block`` (dates, width, *rest) at date index ``t0``, code index ``n0``: one
        ``pwrite`` per date."""
        if not self.cell or not block.shape[1]:
            return
        stride = self.shape[1] * self.cell
        for t in range(block.shape[0]):
            row = memoryview(np.ascontiguousarray(block[t])).cast("B")
            at = self.offset + (t0 + t) * stride + n0 * self.cell
            done = 0
            while done < len(row):
                done += os.pwrite(self.fd, row[done:], at + done)

    def copy_dates(self, source: Path, dates: int) -> None:
        """Copy the first ``dates`` date rows of the ``.npy`` file ``source`` (same N and cell)."""
        offset = np.load(source, mmap_mode="r").offset
        size = dates * self.shape[1] * self.cell
        with open(source, "rb") as src:
            done = 0
            while done < size:
                n = os.copy_file_range(
                    src.fileno(), self.fd, size - done, offset + done, self.offset + done
                )
                if n == 0:
                    raise CacheError(f"{source}: shorter than its header says")
                done += n

    def close(self) -> None:
        os.fsync(self.fd)
        os.close(self.fd)
