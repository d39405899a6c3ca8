// Connector modes, in the words of Exchange Online's outbound connectors
// (SmtpDaneMode, MtaStsMode) and SPEC §2.
#pragma once

#include <optional>
#include <string_view>

namespace dsm::config {

enum class DaneMode { opportunistic, mandatory, none };
enum class StsMode { opportunistic, none };  // MTA-STS has no mandatory mode
enum class OnFailure { defer, reject };

std::string_view to_string(DaneMode m);
std::string_view to_string(StsMode m);
std::string_view to_string(OnFailure f);

std::optional<DaneMode> parse_dane_mode(std::string_view s);
std::optional<StsMode> parse_sts_mode(std::string_view s);
std::optional<OnFailure> parse_on_failure(std::string_view s);

}  // namespace dsm::config
