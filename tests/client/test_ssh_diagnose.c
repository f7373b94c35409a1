/* SPDX-License-Identifier: MIT */
/* client_ssh_diagnose (src/tunnel/ssh_diagnose.c) on OpenSSH's messages as
 * OpenSSH 9.2 writes them, including the ones the sshd tests cannot
 * provoke on loopback (timeouts, routes, configuration). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tunnel/client.h"

static void expect(const char *said, const char *cause)
{
    char *got = client_ssh_diagnose(said, strlen(said));
    if (cause)
        CHECK_STR(got, cause);
    else
        CHECK_MSG(got == NULL, "'%s' gave '%s'", said, got);
    free(got);
}

int main(void)
{
    expect("ssh: Could not resolve hostname web9: Temporary failure in name resolution\r\n",
           "Cannot resolve the host name 'web9' (Temporary failure in name resolution)");
    expect("ssh: connect to host 10.1.2.3 port 22: Connection timed out\r\n",
           "Connection to 10.1.2.3 port 22 timed out");
    expect("Connection timed out during banner exchange\r\n"
           "Connection to 10.1.2.3 port 2222 timed out\r\n",
           "The ssh server at 10.1.2.3 port 2222 did not greet within the connect timeout");
    expect("ssh: connect to host 10.1.2.3 port 22: No route to host\r\n",
           "No route to 10.1.2.3 port 22");
    expect("ssh: connect to host 2001:db8::1 port 22: Network is unreachable\r\n",
           "Network unreachable for 2001:db8::1 port 22");
    expect("/root/.ssh/config: line 3: Bad configuration option: frobnicate\r\n"
           "/root/.ssh/config: terminating, 1 bad configuration options\r\n",
           "ssh refused its configuration: /root/.ssh/config: line 3: Bad configuration "
           "option: frobnicate");
    expect("Bad owner or permissions on /root/.ssh/config\r\n",
           "ssh refused its configuration: Bad owner or permissions on /root/.ssh/config");
    expect("kex_exchange_identification: read: Connection reset by peer\r\n"
           "Connection reset by 10.0.0.1 port 22\r\n",
           "The server closed the connection before login (kex_exchange_identification: read: "
           "Connection reset by peer)");
    expect("Received disconnect from 10.0.0.1 port 22:2: Too many authentication failures\r\n",
           "Authentication refused: too many keys were offered (pick one with -i FILE and -o "
           "IdentitiesOnly=yes)");
    expect("ann@web1: Permission denied (publickey,password).\r\n",
           "Authentication refused: the server did not accept ann@web1 with any key or method "
           "offered (it takes: publickey,password); check the user name and the key (-i FILE)");
    /* A jump host that cannot be resolved: the first cause counts, not
     * the main connection's "closed" that follows it. */
    expect("ssh: Could not resolve hostname bastion: Name or service not known\r\n"
           "kex_exchange_identification: Connection closed by remote host\r\n"
           "Connection closed by UNKNOWN port 65535\r\n",
           "Cannot resolve the host name 'bastion' (Name or service not known)");
    /* Cut short or unknown: nothing, or nothing wrong. */
    expect("", NULL);
    expect("Warning: Permanently added '[127.0.0.1]:2222' (ED25519) to the list of known hosts.\r\n",
           NULL);
    expect("sudo: a password is required\n", NULL);
    expect(": Permission denied (", "Authentication refused: the server did not accept  with "
                                    "any key or method offered (it takes: ); check the user "
                                    "name and the key (-i FILE)");
    return check_done("test_ssh_diagnose");
}
