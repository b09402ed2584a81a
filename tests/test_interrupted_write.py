"""A Ctrl-C or SIGTERM that lands just as a results file is renamed into place must still end the
run as "interrupted" (exit 130, finished claims kept), never as "another process replaced the file".

Route: the real write path (ResultsWriter over a locked file) with the signal sent from inside the
rename itself, so it arrives at the first moment Python can run its handler.  Before the fix the
interrupt fired between the rename and the lock's update, and the follow-up write (what the CLI does on
an interrupt) raised ResultsFileError: exit 2 in `test_cli_sigterm_exits_130_with_one_line` under load.
"""
import os
import signal

import pytest

from icl_proofs.export import jsonout
from icl_proofs.parallel import lifecycle


def test_signal_during_rename_leaves_the_lock_on_the_new_file(tmp_path, monkeypatch):
    if not hasattr(signal, "pthread_sigmask"):
        pytest.skip("no signal masks on this platform")
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        assert lifecycle.handle_sigterm()
        path = tmp_path / "r.json"
        lock = jsonout.FileLock(path)
        lock.acquire()
        writer = jsonout.ResultsWriter(path, {"argv": []}, 15, lock=lock)
        writer.write()  # the run's first write: the lock now holds that file
        real_replace = os.replace
        fired = []

        def replace_then_signal(src, dst):
            real_replace(src, dst)
            if not fired:
                fired.append(True)
                os.kill(os.getpid(), signal.SIGTERM)

        monkeypatch.setattr(jsonout.os, "replace", replace_then_signal)
        with pytest.raises(KeyboardInterrupt):
            writer.write()  # a later write, the signal landing as its file is renamed into place
        monkeypatch.setattr(jsonout.os, "replace", real_replace)
        writer.interrupted()  # what the CLI does next: must not see a "foreign" file
        lock.release()
    finally:
        signal.signal(signal.SIGTERM, previous)
