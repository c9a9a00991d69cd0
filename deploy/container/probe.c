/*
 * osprey-probe: the container's HEALTHCHECK. The image has no shell and no curl, so this small
 * static program asks the server's readiness route over loopback HTTP and exits 0 when it
 * answers 200, 1 otherwise (not listening, still warming up: 503, or no answer in 3 s).
 *
 *   osprey-probe [PATH]          PATH defaults to /readyz
 *
 * The port comes from OSPREY_LISTEN (its first "host:port" entry), else PORT, else 32168; the
 * address is always loopback (127.0.0.1, or ::1 when the listen address is IPv6). Plain HTTP
 * only: with TLS on, point the health check at a plain listener or turn it off (docs/deploy.md).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int port_from_env(int *ipv6) {
    const char *listen = getenv("OSPREY_LISTEN");
    *ipv6 = 0;
    if (listen && *listen) {
        char first[256];
        size_t n = strcspn(listen, ",");
        if (n >= sizeof first) n = sizeof first - 1;
        memcpy(first, listen, n);
        first[n] = '\0';
        char *colon = strrchr(first, ':');
        if (colon) {
            *ipv6 = first[0] == '[';
            int p = atoi(colon + 1);
            if (p > 0 && p < 65536) return p;
        }
    }
    const char *port = getenv("PORT");
    if (port && atoi(port) > 0 && atoi(port) < 65536) return atoi(port);
    return 32168;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "/readyz";
    int ipv6;
    int port = port_from_env(&ipv6);
    alarm(3); /* the whole probe: connect, send, read */

    int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 1;
    int rc;
    if (ipv6) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((unsigned short)port)};
        a.sin6_addr = in6addr_loopback;
        rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    }
    if (rc != 0) {
        fprintf(stderr, "osprey-probe: nothing listening on loopback port %d\n", port);
        return 1;
    }
    char req[512];
    int len = snprintf(req, sizeof req,
                       "GET %s HTTP/1.0\r\nHost: localhost\r\nUser-Agent: osprey-probe\r\n\r\n", path);
    if (len <= 0 || len >= (int)sizeof req || write(fd, req, (size_t)len) != len) return 1;

    char buf[64] = {0};
    size_t got = 0;
    while (got < sizeof buf - 1) {
        ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
        if (r <= 0) break;
        got += (size_t)r;
        if (memchr(buf, '\n', got)) break;
    }
    close(fd);
    /* "HTTP/1.x 200 ..." */
    if (got >= 12 && strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 8, " 200", 4) == 0) return 0;
    buf[strcspn(buf, "\r\n")] = '\0';
    fprintf(stderr, "osprey-probe: %s answered '%s'\n", path, buf);
    return 1;
}
