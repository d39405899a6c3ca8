#include "milter/reply_text.hpp"

namespace dsm::milter {

std::string reply_safe(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char ch : text) {
        const auto u = static_cast<unsigned char>(ch);
        if (ch == '%') {
            out += "%%";
        } else if (u < 0x20 || u == 0x7f) {
            out += ' ';
        } else {
            out += ch;
        }
    }
    return out;
}

}  // namespace dsm::milter
