/* cc-console sandbox: LD_PRELOAD shim that turns bind() to the wildcard address into a bind to loopback.
 *
 * Asterisk's PJSIP always creates a pjlib DNS resolver whose UDP sockets bind to 0.0.0.0 and [::]
 * (there is no setting for it, and glibc always reports at least one nameserver). The sandbox must not
 * listen beyond loopback, so its processes run with this preloaded. Compiled inside the chroot with tcc.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    static bind_fn real_bind;
    if (!real_bind)
        real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
    if (addr && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in sin;
        memcpy(&sin, addr, sizeof sin);
        if (sin.sin_addr.s_addr == htonl(INADDR_ANY)) {
            sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            return real_bind(fd, (const struct sockaddr *)&sin, sizeof sin);
        }
    } else if (addr && addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, addr, sizeof sin6);
        if (memcmp(&sin6.sin6_addr, &in6addr_any, sizeof(struct in6_addr)) == 0) {
            sin6.sin6_addr = in6addr_loopback;
            return real_bind(fd, (const struct sockaddr *)&sin6, sizeof sin6);
        }
    }
    return real_bind(fd, addr, len);
}
