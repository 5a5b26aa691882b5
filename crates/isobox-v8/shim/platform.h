// The V8 platform isobox's workers run on: V8's default platform, with a page allocator that recycles the heap's
// chunks from one isolate to the next.
//
// Every sandbox is a fresh isolate, and a fresh isolate takes about nine 256 KiB chunks for its heap and gives them back
// when it is disposed of. From the kernel, each chunk is a new mapping whose pages fault in one by one (about 200 page
// faults per isolate, each zeroing a page) and a `munmap` at the end: a quarter of the CPU time of making and
// disposing of an isolate. The recycling allocator keeps a few freed chunks mapped and resident instead, zeroed, so
// that the next isolate's heap starts on pages that are already there.

#ifndef ISOBOX_V8_PLATFORM_H
#define ISOBOX_V8_PLATFORM_H

#include <v8-platform.h>

#include <memory>

namespace isobox {

// V8's default platform (`v8::platform::NewDefaultPlatform`) under `default_platform`'s tasks and clocks, with the
// recycling page allocator over the default platform's own. Functions of libplatform that take the platform (message
// loop, isolate shutdown) must be given `default_platform`, which stays owned by the caller and must outlive this.
std::unique_ptr<v8::Platform> NewPlatform(v8::Platform *default_platform);

}  // namespace isobox

#endif
