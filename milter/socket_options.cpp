#include "milter/socket_options.hpp"

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdlib>

namespace dsm::milter {

int set_nodelay_on_listeners() {
    // libmilter keeps its listening descriptor to itself, so find it.
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) {
        return 0;
    }
    int changed = 0;
    while (const dirent* e = readdir(dir)) {
        char* end = nullptr;
        const long fd = std::strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || fd == dirfd(dir)) {
            continue;
        }
        int listening = 0;
        socklen_t len = sizeof listening;
        if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
            listening == 0) {
            continue;
        }
        sockaddr_storage sa{};
        socklen_t sa_len = sizeof sa;
        if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&sa), &sa_len) != 0 ||
            (sa.ss_family != AF_INET && sa.ss_family != AF_INET6)) {
            continue;
        }
        const int one = 1;
        if (setsockopt(static_cast<int>(fd), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0) {
            ++changed;
        }
    }
    closedir(dir);
    return changed;
}

}  // namespace dsm::milter
