#include "core/util/unix_socket.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dsm::util {

Result<bool> clear_stale_unix_socket(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        return true;  // nothing there (or bind() will say why)
    }
    if (!S_ISSOCK(st.st_mode)) {
        return Error{path + " exists and is not a socket"};
    }
    try {
        Poco::Net::StreamSocket probe;
        probe.connect(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, path));
    } catch (const Poco::Exception&) {
        ::unlink(path.c_str());  // nobody listens: stale
        return true;
    }
    return Error{path + " is in use by another process"};
}

}  // namespace dsm::util
