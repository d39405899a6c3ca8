#include "milter/socket_options.hpp"

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdlib>

#include "milter/quick_ack.hpp"

namespace dsm::milter {

std::vector<int> tcp_listeners() {
    std::vector<int> found;
    // libmilter keeps its listening descriptor to itself, so find it.
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) {
        return found;
    }
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
        found.push_back(static_cast<int>(fd));
    }
    closedir(dir);
    return found;
}

bool tune_milter_listener(int fd) {
    const int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        return false;
    }
    quick_ack_sessions_of(fd);
    return true;
}

}  // namespace dsm::milter
