"""The trusted side of the process boundary: start workers, send calls, enforce timeouts.

`Zygote` owns the warm fork server; `WorkerSession` is one submission's worker, restarted
when it dies or hangs. Every reply is decoded with grader.boundary.wire's limits and turned into
plain tensors before anyone compares it.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field

import torch

from grader.boundary import canary, wire
from grader.boundary.sandbox import SLOT_UID_BASE, Limits, Sandbox, launch_zygote


class WorkerError(Exception):
    """The worker could not be started or stopped talking sensibly."""


UID_LOCK_DIR = "/run/dlgrade/uids"
"""Root-owned folder of one lock file per slot uid: a uid is leased machine-wide."""
MAX_SLOTS = 1000


def lock_uid(uid: int, directory: str = UID_LOCK_DIR) -> int | None:
    """An open file holding an exclusive lock on `uid`, or None when another fork server
    (of this or another dlgrade process) holds it. The lock lives as long as the file is
    open, and the kernel drops it when the holder dies: no stale lease survives a crash.

    Raises WorkerError when the folder is not a root-owned folder that only root can write
    (anyone else could then hold every uid, or replace a lock file).
    """
    import fcntl
    import stat

    os.makedirs(directory, mode=0o700, exist_ok=True)
    st = os.lstat(directory)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
        raise WorkerError(f"{directory}: expected a folder owned by root that only root can "
                          f"write, found mode {stat.filemode(st.st_mode)} owner {st.st_uid}")
    fd = os.open(os.path.join(directory, str(uid)),
                 os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class Zygote:
    """A warm process that forks workers. Thread-safe: one request at a time.

    Under a sandbox with uids, every worker runs as a slot uid of its own
    (SLOT_UID_BASE + slot), leased at spawn and given back at kill, once everything that
    uid ran has been killed: concurrent workers never share a uid, so one worker's
    process limit or kill(-1) never reaches a neighbour.
    """

    def __init__(self, sandbox: Sandbox | None = None, start_timeout: float = 120.0, *,
                 launched: tuple[subprocess.Popen, socket.socket] | None = None):
        """`launched`: the process and socket of `sandbox.launch_zygote(sandbox)`, started
        by the caller before it imported torch (grader.boundary.spawn.start)."""
        self.sandbox = sandbox or Sandbox()
        self._lock = threading.Lock()
        self._uid_lock = threading.Lock()
        self._hello_lock = threading.Lock()
        self._leased: dict[int, int] = {}  # worker pid -> slot uid
        self._lease_fds: dict[int, int] = {}  # slot uid -> its locked file
        self.proc, self.sock = launched or launch_zygote(self.sandbox)
        # The zygote imports torch (~1.5 s) while the caller loads the spec and reference;
        # its hello is awaited on first use.
        self._start_deadline = time.monotonic() + start_timeout
        self.torch_version: str | None = None
        self.recorder = "python"
        self.broken = False

    def _ready(self) -> None:
        if self.torch_version is not None:
            return
        with self._hello_lock:
            if self.torch_version is not None:
                return
            try:
                hello = wire.recv(self.sock, self._start_deadline).header
            except (EOFError, TimeoutError, OSError, wire.ProtocolError) as e:
                raise WorkerError(
                    f"the worker fork server did not start: {type(e).__name__}") from e
            self.torch_version = str(hello.get("torch"))
            # Sent before any submission ran: which op recorder the workers use.
            self.recorder = str(hello.get("recorder", "python"))

    def wait_ready(self) -> None:
        """Block until the fork server has booted (imported torch). Grading calls this
        before it starts a submission's clock, so the first submission's execution_time
        is its own, not the fork server's boot. Raises WorkerError if it never comes up."""
        self._ready()

    def _request(self, header: dict, timeout: float = 30.0) -> dict:
        self._ready()
        wire.send(self.sock, header)
        return wire.recv(self.sock, time.monotonic() + timeout).header

    def _lease_uid(self) -> int:
        """The lowest slot uid free on this machine: free here, and not locked by another
        fork server (in this process or in another dlgrade run)."""
        with self._uid_lock:
            busy = set(self._leased.values())
            for slot in range(MAX_SLOTS):
                uid = SLOT_UID_BASE + slot
                if uid not in busy and uid not in self._lease_fds:
                    fd = lock_uid(uid)
                    if fd is not None:
                        self._lease_fds[uid] = fd
                        return uid
            raise WorkerError(f"all {MAX_SLOTS} worker uids from {SLOT_UID_BASE} are in use "
                              f"on this machine (locks under {UID_LOCK_DIR})")

    def _release_uid(self, uid: int) -> None:
        fd = self._lease_fds.pop(uid, None)
        if fd is not None:
            os.close(fd)  # closing the file drops its lock

    def spawn(self, limits: Limits, uid: int | None = None,
              device: str = "cpu") -> tuple[int, socket.socket, int]:
        """Fork a worker. `uid`: its slot uid; by default (under a sandbox with uids) the
        lowest one no live worker holds. `device`: where its calls run (a CUDA worker
        initializes CUDA before its system-call filter loads)."""
        with self._lock:
            # Lease and record under the spawn lock: two threads choosing at once would
            # otherwise both take the lowest free uid, and one's kill(-1) would end the other.
            if uid is None and self.sandbox.uids:
                uid = self._lease_uid()
            try:
                reply = self._request({"op": "spawn", "limits": limits.to_json(), "uid": uid,
                                       "device": device})
                if not reply.get("ok"):
                    raise WorkerError(f"could not start a worker: {reply.get('error')}")
                _, fds, _, _ = socket.recv_fds(self.sock, 16, 2)
            except (EOFError, TimeoutError, OSError, wire.ProtocolError, WorkerError) as e:
                if uid is not None and self.proc.poll() is not None:
                    with self._uid_lock:
                        self._release_uid(uid)  # the fork server died, and its workers
                raise WorkerError(f"could not start a worker: {type(e).__name__}: {e}") from e
            if uid is not None:
                with self._uid_lock:
                    self._leased[reply["pid"]] = uid
        if len(fds) != 2:
            raise WorkerError("the fork server sent no worker sockets")
        return reply["pid"], socket.socket(fileno=fds[0]), fds[1]

    def kill(self, pid: int) -> None:
        """Kill the worker and everything it started (its uid's processes, under uids)."""
        with self._lock:
            try:
                self._request({"op": "kill", "pid": pid})
            except (EOFError, TimeoutError, OSError, wire.ProtocolError):
                return  # the uid stays leased: something of it may still run
            with self._uid_lock:
                uid = self._leased.pop(pid, None)
                if uid is not None and uid not in self._leased.values():
                    self._release_uid(uid)

    def status(self, pid: int, wait: float = 0.5) -> int | None:
        with self._lock:
            try:
                return self._request({"op": "status", "pid": pid, "wait": wait}).get("status")
            except (EOFError, OSError, wire.ProtocolError):
                self.broken = True
                return None
            except TimeoutError:
                return None

    @property
    def dead(self) -> bool:
        """Whether the fork server has stopped serving (its control socket failed or its
        process ended): then every worker it started is gone too, through no fault of
        theirs."""
        return self.broken or self.proc.poll() is not None

    def close(self) -> None:
        try:
            wire.send(self.sock, {"op": "bye"})
        except OSError:
            pass
        try:
            # It kills its workers, removes their folders and exits at once (os._exit):
            # this wait is that cleanup, not a fixed delay.
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.sock.close()
        # The fork server is gone and its workers with it (they die with their parent).
        with self._uid_lock:
            for uid in list(self._lease_fds):
                self._release_uid(uid)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def describe_status(status: int | None) -> str:
    if status is None:
        return "the worker stopped responding"
    if not hasattr(os, "WIFSIGNALED"):  # Windows: a plain worker's exit status << 8
        return f"the worker exited with status {status >> 8}"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        extra = {"SIGSEGV": " (segmentation fault)", "SIGABRT": " (aborted)",
                 "SIGXCPU": " (CPU time limit)", "SIGXFSZ": " (file size limit)",
                 "SIGKILL": " (killed, e.g. out of memory)"}.get(name, "")
        return f"the worker was killed by {name}{extra}"
    if os.WIFEXITED(status):
        return f"the worker exited with status {os.WEXITSTATUS(status)}"
    return f"the worker ended (status {status})"


@dataclass
class CallError:
    """Why a call produced no value."""

    type: str
    """Exception type name, or one of "Timeout", "WorkerDied", "ImportFailed", "Protocol"."""
    message: str = ""
    traceback: str = ""


@dataclass
class CallResult:
    """What one call to a student function produced, as seen from the trusted side."""

    value: object = None
    error: CallError | None = None
    mutated: list[int] = field(default_factory=list)
    """Positions of tensor arguments the call modified in place."""
    aliased: list[int] = field(default_factory=list)
    """Tensors of the reply (table order) that share memory with an argument."""
    containers_mutated: list[int] = field(default_factory=list)
    """Arguments (positional, then keyword, in order) holding a dict or list whose keys or
    items the call changed."""
    containers_returned: list[int] = field(default_factory=list)
    """Return values (by position) that are, or hold, a dict or list the caller passed."""
    ops: list[str] = field(default_factory=list)
    """Base names of the aten ops the call dispatched."""
    functions: list[str] = field(default_factory=list)
    """Names of the torch-level functions the call used (torch function mode)."""
    autograd: bool = False
    """Whether the call used autograd (a tensor requiring grad, or a backward pass)."""
    tensors: list = field(default_factory=list)
    """The reply's tensors, in table order (the objects inside `value`)."""
    tensor_types: list[str] = field(default_factory=list)
    """The Python type of each tensor in the reply, as the worker reported it."""
    tensor_devices: list[str] = field(default_factory=list)
    elapsed_ns: int = 0
    """Round trip measured on the trusted side."""
    op_count: int = 0
    """How many aten ops the call dispatched (when asked for with count_ops)."""
    extra: dict = field(default_factory=dict)
    """Op-specific reply fields (e.g. "gpu_ms" for time)."""

    @property
    def ok(self) -> bool:
        return self.error is None


def _printed(reply: dict) -> dict:
    """A call reply's "printed" text (what the student's function printed), bounded."""
    text = reply.get("printed")
    return {"printed": text[:2000]} if isinstance(text, str) and text else {}


class _OutputTail(threading.Thread):
    """Drains a worker's stdout/stderr so a flood can't block it; keeps the last bytes."""

    def __init__(self, fd: int, keep: int = 8192):
        super().__init__(daemon=True)
        self.fd, self.keep, self.buf = fd, keep, bytearray()
        self.start()

    def run(self):
        try:
            while chunk := os.read(self.fd, 1 << 16):
                self.buf += chunk
                if len(self.buf) > 2 * self.keep:
                    del self.buf[: len(self.buf) - self.keep]
        except OSError:
            pass
        finally:
            os.close(self.fd)

    def text(self) -> str:
        return bytes(self.buf[-self.keep:]).decode("utf-8", "replace")



CANARY_RATE = 0.25
"""The share of recorded calls preceded by a canary call (grader.boundary.canary), on top
of one before the first recorded call of every worker (a restart included) and one before
every op-count call."""


class WorkerSession:
    """One submission loaded in a worker. Restarts the worker after a crash or a timeout.

    `tampered` is empty, or why this worker's run-time checks cannot be believed: a
    recorded call came back without its record, or a canary call's record differed from
    the truth. The submission then scores 0 (grader.engine.grading).
    """

    def __init__(self, zygote: Zygote, module: str, source: str, *,
                 limits: Limits | None = None, uid: int | None = None,
                 load_timeout: float = 30.0, device: str = "cpu"):
        self.zygote, self.module, self.source = zygote, module, source
        self.limits = limits or Limits()
        self.uid, self.load_timeout, self.device = uid, load_timeout, device
        self.pid: int | None = None
        self.sock: socket.socket | None = None
        self.receiver: wire.Receiver | None = None
        """Reads the worker's replies (through a read-ahead buffer)."""
        self.output: _OutputTail | None = None
        self.load_error: CallError | None = None
        self.restarts = 0
        self._seq = 0
        self.tampered = ""
        self.canaries = 0
        """Canary calls made (and verified) so far."""
        self._canary_name = canary.name()
        self._canary_due = True
        self._rng = random.SystemRandom()  # where canaries fall: unpredictable in the worker
        self._drops: list[int] = []
        """Handles to drop, sent with the next request (see drop)."""
        self._companions: dict[str, WorkerSession] = {}

    # -- lifecycle ----------------------------------------------------------------
    def _start(self) -> None:
        self.pid, self.sock, out_fd = self.zygote.spawn(self.limits, self.uid, self.device)
        self.receiver = wire.Receiver(self.sock)
        self.output = _OutputTail(out_fd)
        self._canary_due = True
        reply = self._roundtrip({"op": "load", "module": self.module, "source": self.source,
                                 "canary": self._canary_name}, None, self.load_timeout)
        self.load_error = reply.error
        if reply.error is not None and reply.error.type not in ("Timeout", "WorkerDied"):
            reply.error = CallError("ImportFailed", reply.error.message, reply.error.traceback)
            self.load_error = reply.error

    def ensure(self) -> CallError | None:
        """Start the worker if it is not running; return the import error, if any.

        An import that failed (raised, hung or crashed) is not retried: it would fail the
        same way for every test.
        """
        if self.load_error is not None:
            return self.load_error
        if self.sock is None:
            if self.pid is not None:
                self.restarts += 1
            self._start()
        return self.load_error

    def _stop(self) -> None:
        if self.pid is not None:
            self.zygote.kill(self.pid)
        if self.sock is not None:
            self.sock.close()
        self.sock = self.receiver = None
        self._drops = []  # a new worker numbers its handles afresh: never drop those

    def companion(self, key: str, module: str, source: str) -> WorkerSession:
        """A second worker (e.g. the performance tests' honest probe) that lives as long
        as this session: started on first use, closed with it, so a submission's
        performance tests share one instead of forking and killing one each."""
        other = self._companions.get(key)
        if other is None:
            other = self._companions[key] = WorkerSession(
                self.zygote, module, source, device=self.device)
        return other

    def close(self) -> None:
        for other in self._companions.values():
            other.close()
        self._companions.clear()
        if self.sock is not None:
            try:
                wire.send(self.sock, {"op": "bye"})
            except OSError:
                pass
        self._stop()
        if self.output is not None:
            self.output.join(timeout=1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- calls --------------------------------------------------------------------
    def _roundtrip(self, header: dict, enc: wire.Encoder | None, timeout: float) -> CallResult:
        header, start = self._send(header, enc, timeout)
        return self._receive(header, timeout, start)

    def _send(self, header: dict, enc: wire.Encoder | None,
              timeout: float) -> tuple[dict, int]:
        """Send a request (with the pending drops); (the header sent, the clock at send).
        A worker that does not take it within `timeout` (one that stopped reading, e.g. a
        signal handler asleep between calls) is given up on: its reply never comes, and
        the receive that follows reports a timeout."""
        self._seq += 1
        header = dict(header, seq=self._seq)
        if self._drops:
            header["drop"], self._drops = self._drops, []
        start = time.perf_counter_ns()
        try:
            wire.send(self.sock, header, enc, deadline=time.monotonic() + timeout)
        except OSError:
            pass  # a dead worker, or one that stopped reading: the receive reports it
        return header, start

    def _receive(self, header: dict, timeout: float, start: int,
                 index: int | None = None) -> CallResult:
        """Read one reply to `header` (the `index`-th, for a batch) within `timeout`."""
        try:
            msg = self.receiver.recv(time.monotonic() + timeout)
        except TimeoutError:
            self._stop()
            return CallResult(error=CallError("Timeout", f"no answer within {timeout:g} s"))
        except (EOFError, OSError):
            status = self.zygote.status(self.pid, wait=1.0)
            self._stop()
            if status is None and self.zygote.dead:
                # The machinery failed, not the submission: the caller must not score
                # what it saw (a neighbour that killed the fork server would otherwise
                # cost this submission the tests still to run).
                raise WorkerError("the worker fork server stopped during a call") from None
            return CallResult(error=CallError("WorkerDied", describe_status(status)))
        except wire.ProtocolError as e:
            self._stop()
            return CallResult(error=CallError("Protocol", f"malformed reply: {e}"))
        elapsed = time.perf_counter_ns() - start
        reply = msg.header
        if reply.get("seq") != self._seq or reply.get("index") != index:
            self._stop()
            return CallResult(error=CallError("Protocol", "reply out of sequence"))
        if not reply.get("ok"):
            err = reply.get("error") if isinstance(reply.get("error"), dict) else {}
            return CallResult(error=CallError(str(err.get("type", "Error"))[:100],
                                              str(err.get("message", ""))[:2000],
                                              str(err.get("traceback", ""))[:4000]),
                              elapsed_ns=elapsed, extra=_printed(reply))
        try:
            value = wire.Decoder(msg).decode(reply.get("result"))
        except wire.ProtocolError as e:
            self._stop()
            return CallResult(error=CallError("Protocol", f"malformed reply: {e}"))
        mutated = reply.get("mutated", [])
        aliased = reply.get("aliased", [])
        c_mutated = reply.get("containers_mutated", [])
        c_returned = reply.get("containers_returned", [])
        ops = reply.get("ops", [])
        op_count = reply.get("op_count", 0)
        extra = {k: reply[k] for k in ("gpu_ms",) if k in reply}
        extra.update(_printed(reply))
        functions = reply.get("functions", [])
        asked = (header.get("calls", [{}])[index] if index is not None else header)
        if asked.get("op", "call") == "call" and asked.get("record_ops") and (
                not isinstance(ops, list) or reply.get("recorder") != "intact"):
            # The worker always sends the record when asked: a call without one had its
            # recorder disabled (popped, patched) and cannot be trusted with its result.
            self.tampered = self.tampered or (
                f"{canary.REASON}: a call to {header.get('fn')} came back without its "
                "operation record (the op recorder was disabled)")
            return CallResult(error=CallError(
                "RecorderTampered", "the operation record is missing: the submission "
                "interfered with the grader's op recorder"), elapsed_ns=elapsed)
        return CallResult(
            op_count=op_count if isinstance(op_count, int) else 0, extra=extra,
            autograd=reply.get("autograd") is True,
            value=value,
            mutated=[i for i in mutated if isinstance(i, int)] if isinstance(mutated, list) else [],
            aliased=[i for i in aliased if isinstance(i, int)] if isinstance(aliased, list) else [],
            containers_mutated=_ints(c_mutated), containers_returned=_ints(c_returned),
            ops=[str(o)[:100] for o in ops] if isinstance(ops, list) else [],
            functions=([str(o)[:100] for o in functions] if isinstance(functions, list)
                       else []),
            tensors=msg.tensors,
            tensor_types=[kind for _, kind in msg.tensor_meta],
            tensor_devices=[device for device, _ in msg.tensor_meta],
            elapsed_ns=elapsed,
        )

    def call(self, fn: str, args: tuple | list = (), kwargs: dict | None = None, *,
             keep: tuple[int, ...] = (), timeout: float = 10.0, record_ops: bool = True,
             repeat: int = 1, count_ops: bool = False) -> tuple[CallResult, list[list[int]]]:
        """Call `fn` in the worker.

        Returns the result and, for each positional argument, the indices of the tensors
        it contributed to the request (to name what `mutated` refers to); keyword
        arguments follow in order.
        """
        load_error = self.ensure()
        if load_error is not None:
            self._stop()
            return CallResult(error=load_error), []
        # Every op-count call gets one (they are few, and a count is what a loop would
        # forge to look vectorized); other recorded calls a random share.
        if record_ops and (self._canary_due or count_ops or self._rng.random() < CANARY_RATE):
            self._canary(timeout, repeat, count_ops)
            if self.sock is None:  # the canary call ended the worker: start it again
                load_error = self.ensure()
                if load_error is not None:
                    self._stop()
                    return CallResult(error=load_error), []
        enc = wire.Encoder()
        spans: list[list[int]] = []
        enc_args = []
        for a in args:
            enc.touched = []
            enc_args.append(enc.encode(a))
            spans.append(sorted(set(enc.touched)))
        enc_kwargs = []
        for k, v in (kwargs or {}).items():
            enc.touched = []
            enc_kwargs.append([k, enc.encode(v)])
            spans.append(sorted(set(enc.touched)))
        header = {"op": "call", "fn": fn, "args": enc_args, "kwargs": {"$dict": enc_kwargs},
                  "keep": list(keep), "device": self.device, "record_ops": record_ops,
                  "repeat": repeat, "count_ops": count_ops}
        return self._roundtrip(header, enc, timeout), spans

    def _canary(self, timeout: float, repeat: int, count_ops: bool,
                batch: bool = False) -> None:
        """One canary call, sent as the call it precedes is (same request type, same
        flags: a one-call batch before a batch), and checked against the truth; a mismatch
        sets `tampered`."""
        self._canary_due = False
        from grader.boundary.worker import RECORD

        x, w = canary.make_inputs(large=count_ops)
        expected = canary.expected_record(x, w, RECORD[self.zygote.recorder])
        enc = wire.Encoder()
        args = [enc.encode(x), enc.encode(w)]
        if batch:
            header, start = self._send({"op": "batch", "device": self.device, "calls": [
                {"fn": self._canary_name, "args": args, "kwargs": {"$dict": []},
                 "keep": [], "record_ops": True}]}, enc, timeout)
            reply = self._receive(header, timeout, start, index=0)
        else:
            header = {"op": "call", "fn": self._canary_name, "args": args,
                      "kwargs": {"$dict": []}, "keep": [], "device": self.device,
                      "record_ops": True, "repeat": repeat, "count_ops": count_ops}
            reply = self._roundtrip(header, enc, timeout)
        self.canaries += 1
        if reply.error is not None and reply.error.type in ("Timeout", "WorkerDied"):
            # Something the submission left running (a timer, a leak) can end any call; the
            # next recorded call is checked instead.
            self._canary_due = True
            return
        why = canary.verify(reply, expected, count_ops=count_ops,
                            exact=self.device == "cpu")
        if why and not self.tampered:
            self.tampered = f"{canary.REASON} ({why})"

    def batch(self, calls: list[tuple[str, tuple | list, dict]], *,
              keep: tuple[int, ...] = (), timeout: float = 10.0,
              record_ops: bool = True) -> list[tuple[CallResult, list[list[int]]]]:
        """Several calls in one request: (fn, args, kwargs) each, where an argument
        wire.Earlier(j, i) is output i of call j, kept in the worker and passed on as if
        it had been sent back. Each call is recorded and checked exactly like `call`; the
        worker replies to each as it finishes and each reply must come within `timeout`.
        Returns one (result, spans) per call up to and including the first that failed;
        `mutated` and the spans name argument positions (positional, then keyword)."""
        load_error = self.ensure()
        if load_error is not None:
            self._stop()
            return [(CallResult(error=load_error), [])]
        if record_ops and (self._canary_due or self._rng.random() < CANARY_RATE):
            self._canary(timeout, 1, False, batch=True)
            if self.sock is None:  # the canary call ended the worker: start it again
                load_error = self.ensure()
                if load_error is not None:
                    self._stop()
                    return [(CallResult(error=load_error), [])]
        enc = wire.Encoder()
        encoded, positions = [], []
        for fn, args, kwargs in calls:
            enc.forget_ids()  # every call gets tensors of its own, as separate calls do
            encoded.append({
                "fn": fn, "args": [enc.encode(a) for a in args],
                "kwargs": {"$dict": [[k, enc.encode(v)] for k, v in (kwargs or {}).items()]},
                "keep": list(keep), "record_ops": record_ops})
            positions.append([[p] for p in range(len(args) + len(kwargs or {}))])
        header, start = self._send({"op": "batch", "calls": encoded, "device": self.device},
                                   enc, timeout)
        out = []
        for k in range(len(calls)):
            # (The worker writes the replies of a few calls at a time: worker.REPLY_GATHER_S.)
            r = self._receive(header, timeout, start, index=k)
            out.append((r, positions[k]))
            if r.error is not None:
                break  # the worker ends the batch at its first failed call
            start = time.perf_counter_ns()
        return out

    def time(self, fn: str, sets: list[tuple[tuple, dict]], *, keep: tuple[int, ...] = (),
             timeout: float = 10.0, flush_mb: int = 0) -> CallResult:
        """Call `fn` once per input set (args, kwargs); `value` is the list of outputs and
        `elapsed_ns` the round trip on this side's clock (see grader.engine.perf).

        The inputs travel in this request: no student code sees them before the clock
        starts (with a separate staging request, a submission computed its answers there,
        untimed, and the timed call only returned them)."""
        load_error = self.ensure()
        if load_error is not None:
            self._stop()
            return CallResult(error=load_error)
        enc = wire.Encoder()
        enc_sets = []
        for args, kwargs in sets:
            enc.forget_ids()  # each set gets inputs of its own
            enc_sets.append([[enc.encode(a) for a in args],
                             {"$dict": [[k, enc.encode(v)] for k, v in (kwargs or {}).items()]}])
        header = {"op": "time", "fn": fn, "sets": enc_sets, "keep": list(keep),
                  "device": self.device, "flush_mb": flush_mb}
        return self._roundtrip(header, enc, timeout)

    def drop(self, handles: list[wire.Handle]) -> None:
        """Forget worker-side objects. Sent with the next request (no round trip of its
        own: a case used to end with one), or not at all if the worker is replaced."""
        if self.sock is None or not handles:
            return
        self._drops.extend(h.id for h in handles)


def _ints(value) -> list[int]:
    return [i for i in value if isinstance(i, int)][:1000] if isinstance(value, list) else []


def as_plain(value):
    """Recursively replace tensor subclasses by plain tensors (defence in depth)."""
    if isinstance(value, torch.Tensor):
        return value if type(value) is torch.Tensor else value.as_subclass(torch.Tensor)
    if isinstance(value, tuple):
        return tuple(as_plain(v) for v in value)
    if isinstance(value, list):
        return [as_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: as_plain(v) for k, v in value.items()}
    return value
