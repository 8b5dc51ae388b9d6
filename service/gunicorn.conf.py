"""gunicorn settings for `ledger serve`; each can be overridden by LEDGER_* variables."""

import os
import sys

bind = os.environ.get("LEDGER_BIND", "127.0.0.1:8000")
# Threads let one worker's group committer batch many requests into one transaction.
worker_class = "gthread"
workers = int(os.environ.get("LEDGER_WORKERS", "2"))
threads = int(os.environ.get("LEDGER_THREADS", "16"))
# Never preload: each worker builds its application (and database pool) after fork.
preload_app = False
# Heartbeat files on a container's overlay filesystem can block; memory never does.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = os.environ.get("LEDGER_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("LEDGER_LOG_LEVEL", "info")


def post_fork(server: object, worker: object) -> None:
    """Shorten the GIL switch interval in each worker.

    The group committer thread waits on the database and then must win the GIL back
    from up to `threads` busy request threads; with the default 5 ms interval every
    round trip of a commit can wait that long.
    """
    sys.setswitchinterval(0.0005)
