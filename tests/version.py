#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Every place that shows a version shows the one meson.build sets.

  version.py VERSION UPSTREAM PYTHONPATH MANDIR PROGRAM...

VERSION is project(version:), UPSTREAM the remctl release we reproduce.
Each PROGRAM is asked for its version the way it takes the option; then
conduit.__version__ (imported from PYTHONPATH) and the .TH line of every
built man page in MANDIR are compared.
"""

import os
import re
import subprocess
import sys
from pathlib import Path


def expected_line(program, version, upstream):
    name = Path(program).name
    if name.startswith('conduit-dispatcher'):  # conduit-dispatcher-x86_64 too
        return ['--version'], f'conduit-dispatcher {version}'
    if name == 'conduit':
        return ['--version'], f'conduit {version}'
    if name == 'remctl':
        return ['-v'], f'remctl {upstream}'
    if name in ('remctld', 'remctl-shell'):
        return ['-v'], f'{name} {upstream} (conduit {version})'
    raise SystemExit(f'version.py: no rule for {program}')


def main(argv):
    if len(argv) < 5:
        sys.exit(__doc__)
    version, upstream, pythonpath, mandir, *programs = argv
    bad = []
    for program in programs:
        option, want = expected_line(program, version, upstream)
        got = subprocess.run([program] + option, capture_output=True, text=True,
                             check=False).stdout.strip()
        if got != want:
            bad.append(f'{program} {option[0]}: {got!r}, not {want!r}')

    env = dict(os.environ, PYTHONPATH=pythonpath)
    got = subprocess.run([sys.executable, '-c', 'import conduit; print(conduit.__version__)'],
                         capture_output=True, text=True, env=env, check=False)
    if got.stdout.strip() != version:
        bad.append(f'conduit.__version__: {got.stdout.strip()!r} {got.stderr.strip()}')

    pages = sorted(p for p in Path(mandir).iterdir() if re.fullmatch(r'.*\.[1-8]', p.name))
    if not pages:
        bad.append(f'no man pages in {mandir}')
    for page in pages:
        th = page.read_text().splitlines()[0]
        if f'"conduit {version}"' not in th:
            bad.append(f'{page}: {th}')

    for line in bad:
        print(line)
    if not bad:
        print(f'ok: {version} (remctl {upstream}) in {len(programs)} programs, '
              f'conduit.__version__, {len(pages)} man pages')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
