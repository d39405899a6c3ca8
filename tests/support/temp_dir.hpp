// A fresh directory for one test (mkdtemp under the system's temp dir),
// removed with everything in it, even where a test took its permissions.
#pragma once

#include <boost/test/unit_test.hpp>

#include <stdlib.h>  // mkdtemp

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace dsm::test {

class TempDir {
  public:
    // The directory is PREFIX-XXXXXX: the prefix says whose it is.
    explicit TempDir(const std::string& prefix = "dsm-test") {
        std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
        BOOST_TEST_REQUIRE(mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::permissions(path, std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::add, ec);
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    TempDir(TempDir&&) = delete;
    TempDir& operator=(TempDir&&) = delete;

    // Writes `content` to `name` in the directory; its path.
    [[nodiscard]] std::string write(const std::string& name, const std::string& content) const {
        std::ofstream(path / name, std::ios::binary) << content;
        return (path / name).string();
    }

    std::filesystem::path path;
};

}  // namespace dsm::test
