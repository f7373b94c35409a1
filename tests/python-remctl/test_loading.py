# SPDX-License-Identifier: MIT
"""The tests exercise OUR module, extension and library, never Debian's."""

import os
import typing

import _remctl
import remctl

from conftest import BUILD_DIR, SRC_DIR

UPSTREAM_LOW_LEVEL = {
    "remctl", "remctl_new", "remctl_set_ccache", "remctl_set_source_ip",
    "remctl_set_timeout", "remctl_open", "remctl_close", "remctl_error",
    "remctl_commandv", "remctl_output", "remctl_noop",
}


def under(path, directory):
    return os.path.realpath(path).startswith(os.path.realpath(directory) + os.sep)


def mapped_libremctl():
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "libremctl.so" in line}
    assert len(paths) == 1, paths
    return paths.pop()


def test_module_is_ours():
    assert under(remctl.__file__, SRC_DIR), remctl.__file__
    assert "dist-packages" not in remctl.__file__


def test_extension_is_ours():
    assert BUILD_DIR, "run through meson (RPY_BUILD_DIR unset)"
    assert under(_remctl.__file__, BUILD_DIR), _remctl.__file__
    assert remctl._remctl is _remctl


def test_library_is_ours_when_built():
    lib = mapped_libremctl()
    if os.environ.get("RPY_OWN_LIBREMCTL") == "1":
        assert under(lib, os.environ["RPY_LIBREMCTL_DIR"]), lib
    else:
        # Fallback build: Debian's library until src/remctl provides ours.
        assert lib.startswith("/usr/lib"), lib


def test_low_level_names_match_upstream():
    public = {n for n in dir(_remctl) if n.startswith("remctl")}
    assert public == UPSTREAM_LOW_LEVEL
    assert isinstance(_remctl.VERSION, str)
    assert remctl.VERSION == _remctl.VERSION


def test_type_hints_ship():
    assert os.path.exists(os.path.join(os.path.dirname(remctl.__file__), "py.typed"))
    assert os.path.exists(os.path.join(SRC_DIR, "_remctl.pyi"))
    hints = typing.get_type_hints(remctl.remctl)
    assert hints["return"] is remctl.RemctlSimpleResult
    for name in ("set_ccache", "set_source_ip", "set_timeout", "open", "command",
                 "output", "noop", "close", "error", "__enter__", "__exit__"):
        assert "return" in typing.get_type_hints(getattr(remctl.Remctl, name)), name
    assert typing.get_type_hints(remctl.Remctl.output)["return"] == remctl.RemctlOutput


def test_exception_hierarchy():
    assert issubclass(remctl.RemctlError, Exception)
    assert issubclass(remctl.RemctlProtocolError, remctl.RemctlError)
    assert issubclass(remctl.RemctlNotOpenedError, remctl.RemctlError)


def test_stub_describes_the_extension():
    import ast
    with open(os.path.join(SRC_DIR, "_remctl.pyi")) as f:
        tree = ast.parse(f.read())
    stubbed = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert stubbed == UPSTREAM_LOW_LEVEL
