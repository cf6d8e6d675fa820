"""A real one-node SLURM cluster on localhost, started by the tests (Debian's slurm-wlm and munge).

No systemd here: munged, slurmctld and slurmd are started by hand, in the foreground (-D) as child
processes, with a private configuration in a temporary folder, and stopped by PID at the end. The node
declares two GPUs through GRES with ``File=/dev/null`` and ``File=/dev/zero``, which registers GPUs without
hardware (a job of two GPUs sees ``CUDA_VISIBLE_DEVICES=0,1``).

Snakemake's SLURM job step strips ``SLURM_CONF`` from the environment of its nested ``srun``, which then
looks for the compiled-in default ``/etc/slurm/slurm.conf``. The cluster therefore links that path to its
private configuration while it runs; it refuses to start where a real ``/etc/slurm/slurm.conf`` exists,
so that a test never touches a real cluster's configuration.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")


def ensure_installed() -> None:
    """Install slurm-wlm and munge with apt when they are missing (needs root)."""
    if all(shutil.which(tool) for tool in ("slurmctld", "slurmd", "sbatch", "munged")):
        return
    if os.geteuid() != 0:
        raise RuntimeError(
            "slurm-wlm and munge are missing and installing them needs root: apt-get install slurm-wlm munge"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq", *PACKAGES]
    if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, capture_output=True)
        subprocess.run(cmd, env=env, check=True, capture_output=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SLURM_CONF = """\
ClusterName=augrepro
SlurmctldHost={host}
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without DefMemPerCPU a job takes the whole node's memory and jobs run one at a time.
DefMemPerCPU=1000
# Jobs must stay visible to squeue for more than three of Snakemake's status-check intervals.
MinJobAge=600
ReturnToService=2
JobRequeue=1
KillWait=30
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
GresTypes=gpu
NodeName={host} NodeHostname={host} CPUs={cpus} RealMemory={memory} Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


DEFAULT_CONF = Path("/etc/slurm/slurm.conf")


class LocalSlurm:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.procs: list[subprocess.Popen] = []
        self.host = socket.gethostname()
        self.env = dict(os.environ, SLURM_CONF=str(self.root / "slurm.conf"))

    def start(self, timeout: float = 60) -> LocalSlurm:
        ensure_installed()
        if DEFAULT_CONF.exists() or DEFAULT_CONF.is_symlink():
            if not (DEFAULT_CONF.is_symlink() and not DEFAULT_CONF.resolve().exists()):
                raise RuntimeError(
                    f"{DEFAULT_CONF} exists: this looks like a real SLURM host; not starting a test cluster"
                )
            DEFAULT_CONF.unlink()  # a dangling link left by an interrupted test run
        root = self.root
        for sub in ("state", "spool", "munge"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(root / "munge", 0o700)
        key = root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
        self.munge_socket = root / "munge" / "munge.socket"
        self._spawn(
            [
                shutil.which("munged"),
                "--foreground",
                "--force",
                f"--key-file={key}",
                f"--socket={self.munge_socket}",
                f"--pid-file={root / 'munge' / 'munged.pid'}",
                f"--seed-file={root / 'munge' / 'seed'}",
                f"--log-file={root / 'munge' / 'munged.log'}",
            ]
        )
        self._wait(lambda: self.munge_socket.exists(), timeout, "munged did not create its socket")
        memory = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8)
        (root / "slurm.conf").write_text(
            SLURM_CONF.format(
                host=self.host,
                ctld_port=_free_port(),
                d_port=_free_port(),
                munge_socket=self.munge_socket,
                root=root,
                cpus=os.cpu_count(),
                memory=memory,
            )
        )
        (root / "gres.conf").write_text(
            f"NodeName={self.host} Name=gpu File=/dev/null\nNodeName={self.host} Name=gpu File=/dev/zero\n"
        )
        DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
        DEFAULT_CONF.symlink_to(root / "slurm.conf")
        self.linked_default = True
        self._spawn([shutil.which("slurmctld"), "-D", "-i", "-f", str(root / "slurm.conf")])
        self._spawn([shutil.which("slurmd"), "-D", "-f", str(root / "slurm.conf"), "-N", self.host])
        self._wait(self._node_idle, timeout, "the node did not become idle")
        return self

    def _spawn(self, cmd: list[str]) -> None:
        log = open(self.root / f"{Path(cmd[0]).name}.out", "ab")
        self.procs.append(subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT))

    def _wait(self, predicate, timeout: float, message: str) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{p.args[0]} exited with {p.returncode}; see {self.root}")
            time.sleep(0.2)
        raise RuntimeError(f"{message} within {timeout} s; logs in {self.root}")

    def _node_idle(self) -> bool:
        out = self.run("sinfo", "-h", "-o", "%T", check=False).stdout.strip()
        return out in ("idle", "mixed", "allocated")

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(list(cmd), env=self.env, capture_output=True, text=True, check=check)

    def stop(self) -> None:
        """Stop every daemon this object started, by PID, newest first."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        if getattr(self, "linked_default", False) and DEFAULT_CONF.is_symlink():
            DEFAULT_CONF.unlink()
            self.linked_default = False
