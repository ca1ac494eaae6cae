"""Ctrl-C while training: the first press asks the loop to stop after the step it is in and save, a second stops at
once (model/train.py turns the request into a resumable stop).
"""

from __future__ import annotations

import os


class StopRequest:
    """Whether Ctrl-C (SIGINT) was pressed while training: the first press asks the loop to stop after the step it
    is in (one line on stderr), a second stops at once. Its handler is set for the `with` block only, and only in
    the main thread (no signal handler can be set elsewhere)."""

    def __init__(self):
        self.pressed, self.previous, self.pid = False, None, os.getpid()

    def __enter__(self):
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def __call__(self) -> bool:
        return self.pressed

    def _handler(self, signum, frame):
        import sys

        if os.getpid() != self.pid:  # a DataLoader worker forked from here: the main process decides
            return
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True
        print("\nislandvae: stopping after this step and saving (Ctrl-C again to stop at once)", file=sys.stderr)
