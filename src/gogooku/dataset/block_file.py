"""``BlockFile``: a ``.npy`` array of shape (T, N, *rest) written without mapping it.

The file is created by ``np.lib.format.open_memmap`` (for the header and size) and then written
with one ``os.pwrite`` per date of a block of whole code runs: row ``t`` of a block starting at
code index ``n0`` lands at byte ``header + ((t·N + n0)·cell)``. The cache writer
(``gogooku.dataset.cache_writer``) and the normalised-feature file
(``gogooku.dataset.normalize``) write their arrays this way, so the process holds one block, not
a memory map of the whole array.

Given a ``writer`` (a one-thread executor), ``write`` hands the block's ``pwrite`` calls to it and
returns: the caller fills the next block meanwhile (``os.pwrite`` releases the GIL; the thread
touches only the NumPy buffer and the file descriptor). ``block`` then alternates between two
buffers and waits for the pending write of the one it hands out, so a buffer is never refilled
while it is being written; ``close`` and ``wait`` raise the first error of a write.
"""

from __future__ import annotations

import os
from concurrent.futures import Executor, Future
from pathlib import Path

import numpy as np

from gogooku.dataset.cache import CacheError


class BlockFile:
    """A ``.npy`` file of shape (T, N, *rest) written by blocks of whole code runs (see module doc)."""

    def __init__(
        self,
        path: Path,
        dtype: np.dtype,
        shape: tuple[int, ...],
        fill: object,
        writer: Executor | None = None,
    ) -> None:
        header = np.lib.format.open_memmap(path, "w+", dtype, shape)
        self.offset = header.offset
        del header
        self.dtype = np.dtype(dtype)
        self.shape = shape
        self.fill = fill
        self.cell = int(np.prod(shape[2:], dtype=np.int64)) * self.dtype.itemsize
        self.fd = os.open(path, os.O_RDWR)
        self.writer = writer
        self._buffers = [np.empty(0, dtype=self.dtype) for _ in range(2 if writer else 1)]
        self._writing: list[Future | None] = [None] * len(self._buffers)
        self._turn = 0

    def block(self, dates: int, width: int, *, filled: bool = True) -> np.ndarray:
        """A (dates, width, *rest) block pre-filled with the array's absent value (left as it
        is with ``filled=False``: the caller writes every cell).

        The block is a view of a buffer reused by a later call (grown when too small), so
        each batch refills memory already mapped instead of faulting in a fresh array; with a
        ``writer`` the two buffers take turns (module doc).
        """
        self._turn = (self._turn + 1) % len(self._buffers)
        self._wait(self._turn)
        shape = (dates, width, *self.shape[2:])
        size = int(np.prod(shape, dtype=np.int64))
        if self._buffers[self._turn].size < size:
            self._buffers[self._turn] = np.empty(size, dtype=self.dtype)
        block = self._buffers[self._turn][:size].reshape(shape)
        if filled:
            block.fill(self.fill)
        return block

    def write(self, block: np.ndarray, t0: int, n0: int) -> None:
        """Write ``block`` (dates, width, *rest) at date index ``t0``, code index ``n0``: one
        ``pwrite`` per date (on the ``writer`` thread when there is one: ``block`` must then be
        the last one :meth:`block` returned)."""
        if self.writer is None:
            self._write(block, t0, n0)
        else:
            self._writing[self._turn] = self.writer.submit(self._write, block, t0, n0)

    def _write(self, block: np.ndarray, t0: int, n0: int) -> None:
        if not self.cell or not block.shape[1]:
            return
        stride = self.shape[1] * self.cell
        for t in range(block.shape[0]):
            row = memoryview(np.ascontiguousarray(block[t])).cast("B")
            at = self.offset + (t0 + t) * stride + n0 * self.cell
            done = 0
            while done < len(row):
                done += os.pwrite(self.fd, row[done:], at + done)

    def _wait(self, turn: int) -> None:
        pending, self._writing[turn] = self._writing[turn], None
        if pending is not None:
            try:
                pending.result()
            finally:
                del pending  # the error's traceback holds this frame: no cycle through the future

    def wait(self) -> None:
        """Wait for the pending writes; the first one's error is raised (after waiting for all)."""
        first: BaseException | None = None
        for turn in range(len(self._writing)):
            try:
                self._wait(turn)
            except BaseException as exc:  # raised below, after the other waits
                first = first or exc
        if first is not None:
            try:
                raise first
            finally:
                del first  # no cycle through this frame (see ``_wait``)

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
        """Wait for the pending writes, ``fsync`` and close the file (closed also after an
        error)."""
        try:
            self.wait()
            os.fsync(self.fd)
        finally:
            os.close(self.fd)
