// Where the binaries look for the model when no --model is given: the embedded
// stories260K.gguf (deploy/models), installed to <prefix>/share/tandem.
#pragma once

#include <string>

namespace tandem::cli {

// The installed copy, <prefix>/share/tandem/stories260K.gguf next to the <prefix>/bin the
// running binary is in (any prefix: /usr/local, a .deb's /usr); a binary run from its
// build tree uses the source tree's deploy/models copy instead.
std::string DefaultModelPath();

}  // namespace tandem::cli
