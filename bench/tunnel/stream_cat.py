#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""`conduit ssh://host run cat FILE` against `ssh host cat FILE`, 1 GiB,
in one run against a throwaway sshd on loopback (tests/ssh/sshd.py), as
root: wall time and both sides' peak RSS.

    bench/tunnel/stream_cat.py [BUILD_DIR] [--size MIB] [--rounds N]

Both rows are whole commands with their output to /dev/null, each on a
connection of its own (conduit --no-reuse; ssh -o ControlMaster=no), so
that every byte passes through the measured processes.  The dispatcher
is the build's, named with --dispatcher (nothing is sent).  Rounds
alternate the two rows.

Local peak RSS: the largest ru_maxrss among the command's processes
(conduit and its ssh, or ssh), from a fresh Python process that only
waits for it.  Remote peak RSS: the largest VmHWM among the processes the
sshd starts for the session (sshd's session processes, the shell, cat,
the dispatcher), sampled every 50 ms while the command runs; the
dispatcher's own is printed too."""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..', '..')
sys.path.insert(0, os.path.join(ROOT, 'tests', 'ssh'))
from sshd import Sshd  # noqa: E402  pylint: disable=wrong-import-position

WAIT_AND_MEASURE = """
import resource, subprocess, sys, time
t0 = time.monotonic()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(rc, time.monotonic() - t0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def descendants(pid):
    """Process ids below pid (a /proc walk)."""
    children = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat', encoding='ascii', errors='replace') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class RemoteSampler(threading.Thread):
    """The largest VmHWM (KiB) among the sshd's descendants, by name."""

    def __init__(self, sshd_pid):
        super().__init__(daemon=True)
        self.sshd_pid = sshd_pid
        self.peak = {}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for pid in descendants(self.sshd_pid):
                try:
                    with open(f'/proc/{pid}/status', encoding='ascii', errors='replace') as f:
                        status = dict(line.split(':', 1) for line in f if ':' in line)
                except OSError:
                    continue
                if 'VmHWM' in status:
                    name = status['Name'].strip()
                    kib = int(status['VmHWM'].split()[0])
                    self.peak[name] = max(self.peak.get(name, 0), kib)
            time.sleep(0.05)


def measure(argv, sshd_pid):
    sampler = RemoteSampler(sshd_pid)
    sampler.start()
    out = subprocess.run([sys.executable, '-c', WAIT_AND_MEASURE, *argv], check=True,
                         capture_output=True, text=True).stdout.split()
    sampler.stop.set()
    sampler.join()
    rc, wall, local_kib = int(out[0]), float(out[1]), int(out[2])
    if rc != 0:
        raise RuntimeError(f'{argv[0]} exited with {rc}')
    return wall, local_kib, sampler.peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('build', nargs='?', default='build')
    ap.add_argument('--size', type=int, default=1024, help='MiB (default 1024)')
    ap.add_argument('--rounds', type=int, default=3)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    conduit = os.path.join(build, 'src', 'cli', 'conduit')
    dispatcher = os.path.join(build, 'src', 'cli', 'conduit-dispatcher')

    fd, path = tempfile.mkstemp(prefix='conduit-bench-cat-', dir='/var/tmp')
    block = os.urandom(1 << 20)
    with os.fdopen(fd, 'wb') as f:
        for _ in range(args.size):
            f.write(block)
    size = args.size << 20
    runtime = tempfile.mkdtemp(prefix='cdrt', dir='/tmp')
    env_runtime = dict(os.environ, XDG_RUNTIME_DIR=runtime)
    os.environ.update(env_runtime)
    results = {'ssh': [], 'conduit': []}
    with Sshd() as sshd:
        ssh_argv = ['ssh', *sshd.options, '-o', 'ControlMaster=no', '-p', str(sshd.port),
                    'root@127.0.0.1', 'cat', path]
        conduit_argv = [conduit, '--no-reuse']
        for setting in sshd.settings:
            conduit_argv += ['-o', setting]
        conduit_argv += ['--dispatcher', dispatcher, f'ssh://root@127.0.0.1:{sshd.port}',
                         'run', 'cat', path]
        for r in range(args.rounds):
            order = ['ssh', 'conduit'] if r % 2 == 0 else ['conduit', 'ssh']
            for row in order:
                argv = ssh_argv if row == 'ssh' else conduit_argv
                results[row].append(measure(argv, sshd.process.pid))
    os.unlink(path)

    print(f'run cat of {args.size} MiB through a throwaway sshd on loopback, '
          f'{args.rounds} rounds (median [min-max]):')
    print(f"{'row':<36}{'wall s':>22}{'MB/s':>8}{'local peak RSS':>18}{'remote peak RSS':>18}")
    for row, label in (('ssh', f'ssh host cat FILE'), ('conduit', 'conduit ssh://host run cat FILE')):
        walls = [w for w, _, _ in results[row]]
        local = max(k for _, k, _ in results[row])
        remote = max(max(p.values()) for _, _, p in results[row])
        wall = statistics.median(walls)
        print(f'{label:<36}{wall:>8.2f} [{min(walls):.2f}-{max(walls):.2f}]'
              f'{size / wall / 1e6:>8.0f}{local / 1024:>15.1f} MB{remote / 1024:>15.1f} MB')
    disp = max(p.get('conduit-dispatc', 0) for _, _, p in results['conduit'])
    sess = max(max((v for k, v in p.items() if k.startswith('sshd')), default=0)
               for _, _, p in results['conduit'])
    print(f'  conduit remote side: dispatcher {disp / 1024:.1f} MB, sshd session '
          f'{sess / 1024:.1f} MB')
    ratio = statistics.median([w for w, _, _ in results['conduit']]) / \
        statistics.median([w for w, _, _ in results['ssh']])
    print(f'  conduit / ssh wall time: {ratio:.2f} (goal <= 1.00); goal RSS <= 16 MB both sides')


if __name__ == '__main__':
    main()
