#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turn src/tunnel/bootstrap.sh into one line of shell in a C string.

The line travels as `exec /bin/sh -c '<line>' ...` on the ssh command line,
read first by the user's login shell (sh, bash, csh, fish...), so the
program must survive their quoting: no single quotes, no backslash pairs
(fish folds them inside single quotes), no newlines.  Comment lines and
indentation are dropped; every remaining line must end its own commands."""
import sys


def one_line(text):
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        for bad, why in (("'", "a single quote"), ('\\\\', "a backslash pair"),
                         (' #', "a comment after code"), ('\t', "a tab")):
            if bad in line:
                sys.exit(f"bootstrap.sh:{number}: {why} cannot go on the ssh command line")
        lines.append(line)
    return ' '.join(lines)


def main():
    source, output = sys.argv[1:3]
    with open(source, encoding='utf-8') as f:
        program = one_line(f.read())
    literal = program.replace('\\', '\\\\').replace('"', '\\"')
    with open(output, 'w', encoding='utf-8') as f:
        f.write("/* Generated from src/tunnel/bootstrap.sh by scripts/gen-bootstrap.py. */\n")
        f.write(f'static const char bootstrap_program[] = "{literal}";\n')


if __name__ == '__main__':
    main()
