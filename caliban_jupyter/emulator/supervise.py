"""Job threads that always end their job, whatever goes wrong in them.

The runner handles the failures it expects (an image that cannot be had, Docker errors, a
cancel, the emulator stopping) where they happen. Anything else — a bug, an error nobody
foresaw — would otherwise kill the job's thread silently and leave the job RUNNING for
ever. Here it is logged with its traceback (to the emulator's standard error: its log
file when it runs in the background), the job's containers are removed and the job
FAILED with a message naming the error and that log.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


def job_thread(job_id: int, work: Callable[[], None], *, stopping: threading.Event,
               done: Callable[[], None], remove: Callable[[], None],
               fail: Callable[[str], None], log_file: str | None) -> threading.Thread:
    """A (not yet started) daemon thread running ``work`` for job ``job_id``.

    Parameters
    ----------
    work
        Runs the job to its end.
    stopping
        Set when the emulator shuts down: a job interrupted then is left as it is, for
        the next emulator to resume from the state on disk.
    done
        Called last, however ``work`` ended.
    remove, fail
        After an unexpected error: remove the job's containers, then fail the job with
        the message given (or finish its cancel, if one is under way).
    log_file
        Where the emulator's standard error goes, named in that message.
    """

    def body() -> None:
        try:
            work()
        except Exception as e:  # whatever it is, the job must still end
            if stopping.is_set():
                # The emulator closed its store under the job: expected, not worth a word.
                if not isinstance(e, sqlite3.ProgrammingError):
                    log.warning("job %s: error while the emulator stopped; the next "
                                "emulator resumes the job", job_id, exc_info=True)
                return
            log.error("job %s failed in the emulator itself", job_id, exc_info=True)
            _end(job_id, e, remove, fail, log_file)
        finally:
            done()

    return threading.Thread(target=body, name=f"emulator-job-{job_id}", daemon=True)


def _end(job_id: int, error: Exception, remove: Callable[[], None],
         fail: Callable[[str], None], log_file: str | None) -> None:
    try:
        remove()
    except Exception:  # the job must end all the same; the next emulator removes them
        log.exception("job %s: could not remove its containers", job_id)
    try:
        fail(crash_message(error, log_file))
    except Exception:  # e.g. the store itself is broken: at least say so
        log.exception("job %s: could not record its failure", job_id)


def crash_message(error: BaseException, log_file: str | None) -> str:
    """The ``error.message`` of a job ended by an unexpected ``error``."""
    where = (f"the emulator's log ({log_file})" if log_file else
             "the emulator's log (the standard error of `caliban emulator`)")
    return (f"The emulator failed while running the job: {type(error).__name__}: {error}. "
            f"The traceback is in {where}. This is a bug in the emulator or trouble with "
            "the Docker engine, not in the job's program; resubmit the job.")
