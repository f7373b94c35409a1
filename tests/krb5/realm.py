# SPDX-License-Identifier: MIT
"""A throwaway MIT Kerberos realm on loopback, and a stand-alone remctld.

Used by the remctl tests and benchmarks (and importable by anyone via
sys.path: ``from realm import Realm, Remctld``).  Everything lives in a
temporary directory; nothing touches the system's Kerberos configuration.

    with Realm() as realm:               # KDC running, client ticket in realm.ccache
        with Remctld(realm, "test echo /bin/echo ANYUSER\\n") as server:
            env = realm.env()            # KRB5_CONFIG, KRB5CCNAME for clients
            subprocess.run(["remctl", "-p", str(server.port), "localhost",
                            "test", "echo", "hi"], env=env)

Principals: host/localhost@REALM (server, realm.server_keytab),
client@REALM (realm.ccache, realm.client_keytab) and client2@REALM
(realm.client2_keytab, realm.client2_ccache) for ACL tests; add_client(name)
makes more.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

KDC_BIN = "/usr/sbin/krb5kdc"
KDB5_UTIL = "/usr/sbin/kdb5_util"
KADMIN_LOCAL = "/usr/sbin/kadmin.local"
KINIT = "/usr/bin/kinit"
REMCTLD = "/usr/sbin/remctld"


def free_port():
    """A TCP port on loopback that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, host="127.0.0.1", timeout=10.0, proc=None):
    """Wait until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listening on {host}:{port} after {timeout}s")


def stop_process(proc, timeout=5.0):
    """SIGTERM, then SIGKILL; always reaps."""
    if proc is None or proc.poll() is not None:
        if proc is not None:
            proc.wait()
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class _Service:
    """start() in `with`, stop() on the way out (also when start fails)."""

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()


class Realm(_Service):
    """A running KDC for a private realm, with keytabs and a client ticket."""

    def __init__(self, realm="CONDUIT.TEST", tmpdir=None, anonymous=False):
        self.realm = realm
        # anonymous=True: anonymous PKINIT (needs Debian's krb5-pkinit and
        # openssl); start() then leaves an anonymous ticket in
        # self.anonymous_ccache.
        self.anonymous = anonymous
        self._own_dir = tmpdir is None
        self.dir = tmpdir or tempfile.mkdtemp(prefix="krb5-realm-")
        self.kdc_port = None
        self.kdc = None
        self.server_principal = f"host/localhost@{realm}"
        self.client_principal = f"client@{realm}"
        self.client2_principal = f"client2@{realm}"
        self.krb5_conf = os.path.join(self.dir, "krb5.conf")
        self.kdc_conf = os.path.join(self.dir, "kdc.conf")
        self.server_keytab = os.path.join(self.dir, "server.keytab")
        self.client_keytab = os.path.join(self.dir, "client.keytab")
        self.client2_keytab = os.path.join(self.dir, "client2.keytab")
        self.ccache = "FILE:" + os.path.join(self.dir, "client.ccache")
        self.client2_ccache = "FILE:" + os.path.join(self.dir, "client2.ccache")
        self.empty_ccache = "FILE:" + os.path.join(self.dir, "empty.ccache")
        self.anonymous_ccache = "FILE:" + os.path.join(self.dir, "anon.ccache")

    # -- environment ---------------------------------------------------
    def env(self, ccache=None, base=None):
        """An environment for clients and servers of this realm."""
        env = dict(os.environ if base is None else base)
        env["KRB5_CONFIG"] = self.krb5_conf
        env["KRB5_KDC_PROFILE"] = self.kdc_conf
        env["KRB5CCNAME"] = ccache or self.ccache
        env["KRB5_KTNAME"] = "FILE:" + self.server_keytab
        env.pop("KRB5_CLIENT_KTNAME", None)
        return env

    def _run(self, argv, **kw):
        return subprocess.run(argv, env=self.env(), check=True, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)

    # -- life cycle ----------------------------------------------------
    def start(self):
        self.kdc_port = free_port()
        db = os.path.join(self.dir, "principal")
        with open(self.krb5_conf, "w") as f:
            f.write(f"""[libdefaults]
    default_realm = {self.realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    ignore_acceptor_hostname = false
    udp_preference_limit = 1
    forwardable = false

[realms]
    {self.realm} = {{
        kdc = 127.0.0.1:{self.kdc_port}{self._pkinit_conf("client")}
    }}

[domain_realm]
    localhost = {self.realm}
    .localhost = {self.realm}
""")
        with open(self.kdc_conf, "w") as f:
            f.write(f"""[kdcdefaults]
    kdc_ports = {self.kdc_port}
    kdc_tcp_ports = {self.kdc_port}

[realms]
    {self.realm} = {{
        database_name = {db}
        key_stash_file = {os.path.join(self.dir, "stash")}
        acl_file = {os.path.join(self.dir, "kadm5.acl")}
        kdc_ports = {self.kdc_port}
        kdc_tcp_ports = {self.kdc_port}
        max_life = 1d
        max_renewable_life = 0
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal{self._pkinit_conf("kdc")}
    }}

[logging]
    kdc = FILE:{os.path.join(self.dir, "kdc.log")}
""")
        self._run([KDB5_UTIL, "create", "-s", "-P", "masterpw", "-r", self.realm])
        queries = [
            f"addprinc -randkey {self.server_principal}",
            f"addprinc -randkey {self.client_principal}",
            f"addprinc -randkey {self.client2_principal}",
            *([f"addprinc -randkey WELLKNOWN/ANONYMOUS@{self.realm}"] if self.anonymous else []),
            f"ktadd -k {self.server_keytab} -norandkey {self.server_principal}",
            f"ktadd -k {self.client_keytab} -norandkey {self.client_principal}",
            f"ktadd -k {self.client2_keytab} -norandkey {self.client2_principal}",
        ]
        for q in queries:
            self._run([KADMIN_LOCAL, "-r", self.realm, "-q", q])
        log = open(os.path.join(self.dir, "kdc.stderr"), "wb")
        self.kdc = subprocess.Popen([KDC_BIN, "-n", "-r", self.realm], env=self.env(),
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        wait_listening(self.kdc_port, proc=self.kdc)
        self.kinit(self.client_keytab, self.client_principal, self.ccache)
        self.kinit(self.client2_keytab, self.client2_principal, self.client2_ccache)
        if self.anonymous:
            self._run([KINIT, "-n", "-c", self.anonymous_ccache, "@" + self.realm])
        return self

    # -- anonymous PKINIT ----------------------------------------------
    def _pkinit_conf(self, side):
        """The realm stanza's PKINIT lines (certificates made on the way)."""
        if not self.anonymous:
            return ""
        if side == "client":
            return f"\n        pkinit_anchors = FILE:{os.path.join(self.dir, 'ca.pem')}"
        self._make_kdc_certificate()
        pem = os.path.join(self.dir, "kdc.pem")
        key = os.path.join(self.dir, "kdc-key.pem")
        return (f"\n        pkinit_identity = FILE:{pem},{key}"
                f"\n        pkinit_anchors = FILE:{os.path.join(self.dir, 'ca.pem')}")

    def _make_kdc_certificate(self):
        """A throwaway CA and a KDC certificate it signs, with what PKINIT
        clients check (RFC 4556): the KDC extended key usage and the
        krbtgt/REALM@REALM principal as a subject alternative name."""
        ext = os.path.join(self.dir, "kdc-ext.cnf")
        with open(ext, "w") as f:
            f.write(f"""[kdc]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment, keyAgreement
extendedKeyUsage = 1.3.6.1.5.2.3.5
subjectAltName = otherName:1.3.6.1.5.2.2;SEQUENCE:krb5principal

[krb5principal]
realm = EXP:0,GeneralString:{self.realm}
name = EXP:1,SEQUENCE:principalname

[principalname]
type = EXP:0,INTEGER:2
parts = EXP:1,SEQUENCE:krbtgt

[krbtgt]
a = GeneralString:krbtgt
b = GeneralString:{self.realm}
""")
        def ssl(*args):
            self._run(["openssl", *args], cwd=self.dir)
        ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem",
            "-out", "ca.pem", "-days", "2", "-subj", "/CN=conduit throwaway CA")
        ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "kdc-key.pem",
            "-out", "kdc.csr", "-subj", f"/CN=kdc {self.realm}")
        ssl("x509", "-req", "-in", "kdc.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
            "-CAcreateserial", "-out", "kdc.pem", "-days", "2", "-extfile", ext,
            "-extensions", "kdc")

    def kinit(self, keytab, principal, ccache):
        self._run([KINIT, "-k", "-t", keytab, "-c", ccache, principal])

    def add_client(self, name):
        """Another client principal NAME@REALM with a ticket; returns
        (principal, ccache) for env(ccache=...)."""
        principal = f"{name}@{self.realm}"
        keytab = os.path.join(self.dir, f"{name}.keytab")
        ccache = "FILE:" + os.path.join(self.dir, f"{name}.ccache")
        self._run([KADMIN_LOCAL, "-r", self.realm, "-q", f"addprinc -randkey {principal}"])
        self._run([KADMIN_LOCAL, "-r", self.realm, "-q",
                   f"ktadd -k {keytab} -norandkey {principal}"])
        self.kinit(keytab, principal, ccache)
        return principal, ccache

    def stop(self):
        stop_process(self.kdc)
        self.kdc = None
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class Remctld(_Service):
    """Debian's /usr/sbin/remctld, stand-alone in the foreground on a free
    loopback port, with the given configuration text.  Subclasses start
    another server binary by overriding the class attributes."""

    program = REMCTLD
    flags = ("-F", "-m", "-S")
    file_prefix = "remctld"
    stop_timeout = 5.0

    def __init__(self, realm, config, port=None, extra_args=(), bind="127.0.0.1", env=None):
        self.realm = realm
        self.extra_env = dict(env or {})  # on top of the realm's environment
        self.bind = bind
        self.config = config
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.proc = None
        self.conf_path = os.path.join(realm.dir, f"{self.file_prefix}-{self.port}.conf")
        self.log_path = os.path.join(realm.dir, f"{self.file_prefix}-{self.port}.log")

    def write_config(self, text):
        """Replace the configuration file atomically (a reload never sees
        half a file)."""
        tmp = self.conf_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.conf_path)

    def start(self):
        self.write_config(self.config)
        log = open(self.log_path, "wb")
        argv = [self.program, *self.flags, "-p", str(self.port), "-b", self.bind,
                "-k", self.realm.server_keytab, "-s", self.realm.server_principal,
                "-f", self.conf_path] + self.extra_args
        self.proc = subprocess.Popen(argv, env={**self.realm.env(), **self.extra_env},
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        wait_listening(self.port, host=self.bind, proc=self.proc)
        return self

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        """Stop the server; returns its exit status (0 if not running)."""
        stop_process(self.proc, timeout=self.stop_timeout)
        rc = self.proc.returncode if self.proc else 0
        self.proc = None
        return rc


if __name__ == "__main__":
    # Smoke test: bring up a realm and a server and run Debian's client.
    with Realm() as r, Remctld(r, "test echo /bin/echo ANYUSER\n") as d:
        out = subprocess.run(["/usr/bin/remctl", "-p", str(d.port), "localhost",
                              "test", "echo", "hello"], env=r.env(),
                             capture_output=True, text=True)
        print(out.returncode, out.stdout, out.stderr)
