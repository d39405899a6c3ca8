#include "core/dane/tlsa.hpp"

namespace dsm::dane {

namespace {

// RFC 7218 §2 names; only what RFC 7672 §3.1 lets an SMTP client use.
constexpr std::uint8_t usage_dane_ta = 2;
constexpr std::uint8_t usage_dane_ee = 3;
constexpr std::uint8_t selector_cert = 0;
constexpr std::uint8_t selector_spki = 1;
constexpr std::uint8_t mtype_full = 0;
constexpr std::uint8_t mtype_sha256 = 1;
constexpr std::uint8_t mtype_sha512 = 2;

}  // namespace

bool TlsaRecord::usable() const {
    // RFC 7672 §3.1.3: PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP.
    if (usage != usage_dane_ta && usage != usage_dane_ee) {
        return false;
    }
    if (selector != selector_cert && selector != selector_spki) {
        return false;
    }
    // RFC 6698 §2.1.3: a digest of the wrong length can never match; treat
    // such a record as unusable rather than as a DANE record that always
    // fails (RFC 7672 §3.1: unusable records are ignored).
    switch (mtype) {
        case mtype_full:
            return !data.empty();
        case mtype_sha256:
            return data.size() == 32;
        case mtype_sha512:
            return data.size() == 64;
        default:
            return false;
    }
}

std::string TlsaRecord::to_string() const {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out =
        std::to_string(usage) + ' ' + std::to_string(selector) + ' ' + std::to_string(mtype);
    if (!data.empty()) {
        out += ' ';
        out.reserve(out.size() + 2 * data.size());
        for (const std::uint8_t b : data) {
            out += hex[b >> 4];
            out += hex[b & 0x0F];
        }
    }
    return out;
}

std::optional<TlsaRecord> parse_tlsa_rdata(std::span<const std::uint8_t> rdata) {
    // RFC 6698 §2.1: three one-octet fields, then at least one octet of
    // certificate association data.
    if (rdata.size() < 4) {
        return std::nullopt;
    }
    TlsaRecord r;
    r.usage = rdata[0];
    r.selector = rdata[1];
    r.mtype = rdata[2];
    r.data.assign(rdata.begin() + 3, rdata.end());
    return r;
}

}  // namespace dsm::dane
