// libmilter glue: turns each RCPT's Decision into sfsistat + smfi_setreply and
// writes the verdict headers at end of message. Thin: all logic is in core/.
#pragma once

#include <libmilter/mfapi.h>

#include "milter/runtime.hpp"

namespace dsm::milter {

// The filter description to hand to smfi_register(). `runtime` must outlive
// smfi_main().
smfiDesc make_filter_description(Runtime& runtime);

}  // namespace dsm::milter
