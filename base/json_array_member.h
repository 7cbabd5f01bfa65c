// Reads the array member of a large JSON object one element at a time.
//
// A DOM of a whole document costs several times its size in small
// allocations: /v2/apps?embed=apps.tasks of 100,000 apps is 33 MB of text and
// was ~10x that as an nlohmann tree, most of the registry's load time spent
// faulting in fresh pages. Here only one element is ever a tree: it is handed
// to the caller and freed before the next is built, so its memory is reused.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

#include "base/json.h"
#include "base/result.h"

namespace corral {

// Parses `text`, which must be a JSON object with an array member named `key`
// ({"apps": [...], ...}), and calls onElement(element, index) for each element
// of that array as soon as it is complete. Other members are skipped without
// being built; only the first member named `key` is read. The whole text is
// still checked: an error (malformed JSON, with the byte offset; not an
// object; no such array) may come after some elements were handed out, so a
// caller that must not act on half a document collects first and acts after
// an ok Status.
Status forEachArrayElement(std::string_view text, std::string_view key,
                           const std::function<void(const Json& element, size_t index)>& onElement);

}  // namespace corral
