// See platform.h.

#include "platform.h"
#include "isobox_v8.h"

#include <libplatform/libplatform.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

namespace isobox {
namespace {

// V8 10.2's heap chunk (`MemoryChunk`): allocated inaccessible with this size and alignment, then committed.
constexpr size_t kChunkBytes = 256 << 10;

// Freed chunks kept for the next isolates: a little more than one isolate's heap (about nine chunks), so that a worker
// disposing of one isolate while making the next reuses all of them. At most this many times 256 KiB stay resident
// in a worker beyond its live isolates.
constexpr size_t kMaxRecycledChunks = 16;

// V8 10.2 reserves a code range of its own for every isolate (64 MiB, at page alignment), in which it commits the
// chunks of its code space: reservations at least this large, page-aligned, are recycled whole, as chunks are.
constexpr size_t kMinRangeBytes = 16 << 20;

// Freed code ranges kept: one for the isolate being made while another is disposed of, one spare.
constexpr size_t kMaxRecycledRanges = 2;

// A range is recycled only if at most this much of it is resident (an isolate's code space is a few hundred KiB), so
// that zeroing it stays cheap; uncommitting a part of a range larger than this discards it as usual.
constexpr size_t kMaxRangeResidentBytes = 4 << 20;

// Chunks are recycled readable and writable: V8 asks for a chunk inaccessible and makes it readable and writable at
// once, and taking the access away and giving it back costs two walks of its page table entries (and a flush of the
// other cores' TLBs) per chunk. A chunk V8 uncommits (or frees) is zeroed in place rather than discarded: its pages
// read as zero when committed again, as V8 expects, without faulting in again. Code ranges are recycled inaccessible
// (code is made executable within them), the parts V8 uncommits zeroed in place as well.
class RecyclingPageAllocator final : public v8::PageAllocator {
 public:
  explicit RecyclingPageAllocator(v8::PageAllocator *system)
      : system_(system), page_bytes_(static_cast<size_t>(sysconf(_SC_PAGESIZE))) {}

  ~RecyclingPageAllocator() override {
    for (void *chunk : recycled_) system_->FreePages(chunk, kChunkBytes);
    for (const auto &range : recycled_ranges_) system_->FreePages(range.first, range.second);
  }

  size_t AllocatePageSize() override { return system_->AllocatePageSize(); }
  size_t CommitPageSize() override { return system_->CommitPageSize(); }
  void SetRandomMmapSeed(int64_t seed) override { system_->SetRandomMmapSeed(seed); }
  void *GetRandomMmapAddr() override { return system_->GetRandomMmapAddr(); }

  void *AllocatePages(void *hint, size_t length, size_t alignment, Permission access) override {
    if (IsRange(length, alignment, access)) return AllocateRange(hint, length, alignment);
    bool chunk = IsChunk(length, alignment, access);
    if (chunk) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!recycled_.empty()) {
        void *pages = recycled_.back();
        recycled_.pop_back();
        live_[pages] = Chunk{true, true};
        return pages;
      }
    }
    void *pages = system_->AllocatePages(hint, length, alignment, access);
    if (chunk && pages != nullptr && reinterpret_cast<uintptr_t>(pages) % kChunkBytes == 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      live_[pages] = Chunk{true, false};
    }
    return pages;
  }

  bool FreePages(void *address, size_t length) override {
    Range range;
    if (length >= kMinRangeBytes && TakeRange(address, length, &range)) {
      return RecycleRange(address, range) || system_->FreePages(address, length);
    }
    Chunk chunk;
    if (!Take(address, &chunk)) return system_->FreePages(address, length);
    if (Recycle(address, chunk)) return true;
    // A chunk of ours is whole, whatever V8 trimmed off it.
    return system_->FreePages(address, kChunkBytes);
  }

  bool ReleasePages(void *address, size_t length, size_t new_length) override {
    // V8 trims some chunks once filled (the read-only space, a large object's): a chunk of ours keeps its tail,
    // inaccessible, so that it is recycled whole.
    if (new_length < length && length <= kChunkBytes && new_length % page_bytes_ == 0 && Update(address, kChanged)) {
      auto *tail = static_cast<unsigned char *>(address) + new_length;
      if (mprotect(tail, length - new_length, PROT_NONE) == 0) return true;
      Take(address, nullptr);
    }
    if (length >= kMinRangeBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      ranges_.erase(address);
    }
    return system_->ReleasePages(address, length, new_length);
  }

  bool SetPermissions(void *address, size_t length, Permission access) override {
    if (length == kChunkBytes) {
      Chunk chunk;
      if (access == kNoAccess && Get(address, &chunk) && Scrub(address, chunk)) {
        // Uncommitted (or about to be freed): zeroed in place, its pages kept.
        Update(address, kScrubbed);
        return true;
      }
      if (access == kReadWrite && Get(address, &chunk)) {
        if (!chunk.writable && !system_->SetPermissions(address, length, access)) return false;
        Update(address, kCommitted);
        return true;
      }
    }
    // A part of a code range uncommitted (a code chunk freed): zeroed in place and made inaccessible, its pages kept
    // for the next isolate's code space.
    if (access == kNoAccess) {
      if (length <= kMaxRangeResidentBytes && InRange(address, length, false) && Clear(address, length)) return true;
    } else {
      InRange(address, length, true);
    }
    Touch(address, length);
    return system_->SetPermissions(address, length, access);
  }

  bool DiscardSystemPages(void *address, size_t size) override {
    Touch(address, size);
    return system_->DiscardSystemPages(address, size);
  }

  bool DecommitPages(void *address, size_t size) override {
    Touch(address, size);
    return system_->DecommitPages(address, size);
  }

  // How many freed chunks are kept now.
  size_t Recycled() {
    std::lock_guard<std::mutex> lock(mutex_);
    return recycled_.size();
  }

  // How many freed code ranges are kept now.
  size_t RecycledRanges() {
    std::lock_guard<std::mutex> lock(mutex_);
    return recycled_ranges_.size();
  }

 private:
  // What is known of a whole chunk of ours.
  struct Chunk {
    // Every page reads as zero.
    bool zeroed = false;
    // The whole chunk is readable and writable (and nothing else).
    bool writable = false;
  };

  enum Change { kScrubbed, kCommitted, kChanged };

  // What is known of a code range of ours.
  struct Range {
    size_t length = 0;
    // The end of what was ever made accessible in it, from its start: only pages before it can hold anything.
    size_t touched = 0;
  };

  bool IsChunk(size_t length, size_t alignment, Permission access) const {
    return length == kChunkBytes && access == kNoAccess && alignment != 0 && kChunkBytes % alignment == 0 &&
           page_bytes_ != 0 && kChunkBytes % page_bytes_ == 0;
  }

  bool IsRange(size_t length, size_t alignment, Permission access) const {
    return length >= kMinRangeBytes && access == kNoAccess && page_bytes_ != 0 && alignment <= page_bytes_ &&
           length % page_bytes_ == 0;
  }

  // A code range: a recycled one of the same length, or a new reservation.
  void *AllocateRange(void *hint, size_t length, size_t alignment) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = recycled_ranges_.begin(); it != recycled_ranges_.end(); ++it) {
        if (it->second == length) {
          void *pages = it->first;
          recycled_ranges_.erase(it);
          ranges_[pages] = Range{length, 0};
          return pages;
        }
      }
    }
    void *pages = system_->AllocatePages(hint, length, alignment, kNoAccess);
    if (pages != nullptr) {
      std::lock_guard<std::mutex> lock(mutex_);
      ranges_[pages] = Range{length, 0};
    }
    return pages;
  }

  // Whether [address, address + length) lies in a live code range of ours; when `accessible`, it is about to be made
  // accessible there, and the range records it.
  bool InRange(void *address, size_t length, bool accessible) {
    auto begin = reinterpret_cast<uintptr_t>(address);
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto &entry : ranges_) {
      auto base = reinterpret_cast<uintptr_t>(entry.first);
      Range &range = entry.second;
      if (begin < base || begin - base > range.length || length > range.length - (begin - base)) continue;
      if (accessible) range.touched = std::max(range.touched, begin - base + length);
      return true;
    }
    return false;
  }

  // The code range at `address`, of `length`, if it is one of ours, which it no longer is.
  bool TakeRange(void *address, size_t length, Range *range) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = ranges_.find(address);
    if (found == ranges_.end() || found->second.length != length) return false;
    *range = found->second;
    ranges_.erase(found);
    return true;
  }

  // Keeps the freed code range at `address` for a later `AllocateRange`, zeroed and inaccessible; false when there
  // are enough kept already (or it could not be zeroed).
  bool RecycleRange(void *address, Range range) {
    return Keep(recycled_ranges_, kMaxRecycledRanges, std::make_pair(address, range.length), [&] {
      size_t touched = (range.touched + page_bytes_ - 1) / page_bytes_ * page_bytes_;
      return touched == 0 || Clear(address, std::min(touched, range.length));
    });
  }

  // Zeroes the resident pages of [address, address + length) and makes it inaccessible; false when more than
  // kMaxRangeResidentBytes of it is resident (nothing is changed then), or the kernel refuses.
  bool Clear(void *address, size_t length) {
    if (length % page_bytes_ != 0 || reinterpret_cast<uintptr_t>(address) % page_bytes_ != 0) return false;
    std::vector<unsigned char> resident;
    size_t pages = Resident(address, length, &resident);
    if (pages == kUnknown || pages * page_bytes_ > kMaxRangeResidentBytes) return false;
    if (pages > 0) {
      if (mprotect(address, length, PROT_READ | PROT_WRITE) != 0) return false;
      ZeroResident(address, resident);
    }
    return mprotect(address, length, PROT_NONE) == 0;
  }

  static constexpr size_t kUnknown = SIZE_MAX;

  // How many pages of [address, address + length) are resident, each marked in `resident`; kUnknown when the kernel
  // does not say.
  size_t Resident(void *address, size_t length, std::vector<unsigned char> *resident) const {
    resident->assign(length / page_bytes_, 0);
    if (mincore(address, length, resident->data()) != 0) return kUnknown;
    size_t pages = 0;
    for (unsigned char page : *resident) pages += page & 1;
    return pages;
  }

  // Zeroes the pages marked resident in `resident` from `address` on, which must be writable.
  void ZeroResident(void *address, const std::vector<unsigned char> &resident) const {
    auto *bytes = static_cast<unsigned char *>(address);
    for (size_t page = 0; page < resident.size(); page++) {
      if (resident[page] & 1) std::memset(bytes + page * page_bytes_, 0, page_bytes_);
    }
  }

  // Keeps `item` in `kept` (at most `bound` of them) once `clean()`, run outside the lock, made it ready to hand out
  // again; false when enough are kept already or it could not be cleaned.
  template <typename T, typename Clean>
  bool Keep(std::vector<T> &kept, size_t bound, T item, Clean clean) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (kept.size() >= bound) return false;
    }
    if (!clean()) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    if (kept.size() >= bound) return false;
    kept.push_back(item);
    return true;
  }

  bool Get(void *address, Chunk *chunk) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = live_.find(address);
    if (found == live_.end()) return false;
    *chunk = found->second;
    return true;
  }

  // Records `change` to the chunk at `address`; false when it is not one of ours.
  bool Update(void *address, Change change) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = live_.find(address);
    if (found == live_.end()) return false;
    found->second.zeroed = change == kScrubbed;
    found->second.writable = change != kChanged;
    return true;
  }

  // The chunk at `address`, if it is one of ours, which it no longer is.
  bool Take(void *address, Chunk *chunk) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = live_.find(address);
    if (found == live_.end()) return false;
    if (chunk != nullptr) *chunk = found->second;
    live_.erase(found);
    return true;
  }

  // Any other change to the pages of chunks in the range: nothing is known of them any more.
  void Touch(void *address, size_t length) {
    auto begin = reinterpret_cast<uintptr_t>(address) / kChunkBytes * kChunkBytes;
    auto end = reinterpret_cast<uintptr_t>(address) + length;
    std::lock_guard<std::mutex> lock(mutex_);
    if (live_.empty()) return;
    for (uintptr_t chunk = begin; chunk < end; chunk += kChunkBytes) {
      auto found = live_.find(reinterpret_cast<void *>(chunk));
      if (found != live_.end()) found->second = Chunk{};
    }
  }

  // Keeps the freed chunk at `address` for a later `AllocatePages`, zeroed; false when there are enough kept already
  // (or it could not be zeroed).
  bool Recycle(void *address, Chunk chunk) {
    // Recycled chunks are zeroed and writable (one freed before it was ever committed is zeroed but inaccessible).
    return Keep(recycled_, kMaxRecycledChunks, address,
                [&] { return (chunk.zeroed && chunk.writable) || Scrub(address, chunk); });
  }

  // Makes the whole chunk readable and writable and zeroes its resident pages (the others read as zero already).
  bool Scrub(void *address, Chunk chunk) {
    if (!chunk.writable && mprotect(address, kChunkBytes, PROT_READ | PROT_WRITE) != 0) return false;
    std::vector<unsigned char> resident;
    if (Resident(address, kChunkBytes, &resident) != kUnknown) {
      ZeroResident(address, resident);
    } else if (madvise(address, kChunkBytes, MADV_DONTNEED) != 0) {
      std::memset(address, 0, kChunkBytes);
    }
    return true;
  }

  v8::PageAllocator *system_;
  size_t page_bytes_;
  std::mutex mutex_;
  // Whole chunks handed out, and what is known of them.
  std::unordered_map<void *, Chunk> live_;
  // Freed chunks, zeroed, readable and writable, for the next `AllocatePages` of a chunk.
  std::vector<void *> recycled_;
  // Code ranges handed out.
  std::unordered_map<void *, Range> ranges_;
  // Freed code ranges, zeroed and inaccessible, and their lengths.
  std::vector<std::pair<void *, size_t>> recycled_ranges_;
};

// The default platform in everything but the page allocator.
class Platform final : public v8::Platform {
 public:
  Platform(v8::Platform *inner, v8::PageAllocator *system) : inner_(inner), pages_(system) {}

  v8::PageAllocator *GetPageAllocator() override { return &pages_; }
  v8::ZoneBackingAllocator *GetZoneBackingAllocator() override { return inner_->GetZoneBackingAllocator(); }
  void OnCriticalMemoryPressure() override { inner_->OnCriticalMemoryPressure(); }
  bool OnCriticalMemoryPressure(size_t length) override { return inner_->OnCriticalMemoryPressure(length); }
  int NumberOfWorkerThreads() override { return inner_->NumberOfWorkerThreads(); }
  std::shared_ptr<v8::TaskRunner> GetForegroundTaskRunner(v8::Isolate *isolate) override {
    return inner_->GetForegroundTaskRunner(isolate);
  }
  void CallOnWorkerThread(std::unique_ptr<v8::Task> task) override { inner_->CallOnWorkerThread(std::move(task)); }
  void CallBlockingTaskOnWorkerThread(std::unique_ptr<v8::Task> task) override {
    inner_->CallBlockingTaskOnWorkerThread(std::move(task));
  }
  void CallLowPriorityTaskOnWorkerThread(std::unique_ptr<v8::Task> task) override {
    inner_->CallLowPriorityTaskOnWorkerThread(std::move(task));
  }
  void CallDelayedOnWorkerThread(std::unique_ptr<v8::Task> task, double delay_in_seconds) override {
    inner_->CallDelayedOnWorkerThread(std::move(task), delay_in_seconds);
  }
  bool IdleTasksEnabled(v8::Isolate *isolate) override { return inner_->IdleTasksEnabled(isolate); }
  std::unique_ptr<v8::JobHandle> PostJob(v8::TaskPriority priority, std::unique_ptr<v8::JobTask> job) override {
    return inner_->PostJob(priority, std::move(job));
  }
  double MonotonicallyIncreasingTime() override { return inner_->MonotonicallyIncreasingTime(); }
  double CurrentClockTimeMillis() override { return inner_->CurrentClockTimeMillis(); }
  StackTracePrinter GetStackTracePrinter() override { return inner_->GetStackTracePrinter(); }
  v8::TracingController *GetTracingController() override { return inner_->GetTracingController(); }
  void DumpWithoutCrashing() override { inner_->DumpWithoutCrashing(); }
  v8::HighAllocationThroughputObserver *GetHighAllocationThroughputObserver() override {
    return inner_->GetHighAllocationThroughputObserver();
  }

 private:
  v8::Platform *inner_;
  RecyclingPageAllocator pages_;
};

}  // namespace

std::unique_ptr<v8::Platform> NewPlatform(v8::Platform *default_platform) {
  v8::PageAllocator *system = default_platform->GetPageAllocator();
  if (system == nullptr) return nullptr;
  return std::make_unique<Platform>(default_platform, system);
}

}  // namespace isobox

namespace isobox {
namespace {

// What `isobox_v8_check_page_recycling` found wrong first, if anything.
const char *CheckPageRecycling() {
  using Permission = v8::PageAllocator::Permission;
  std::unique_ptr<v8::Platform> default_platform = v8::platform::NewDefaultPlatform();
  v8::PageAllocator *system = default_platform->GetPageAllocator();
  if (system == nullptr) return "the default platform has no page allocator";
  RecyclingPageAllocator pages(system);
  auto allocate = [&] { return pages.AllocatePages(nullptr, kChunkBytes, kChunkBytes, Permission::kNoAccess); };
  auto commit = [&](void *chunk) { return pages.SetPermissions(chunk, kChunkBytes, Permission::kReadWrite); };
  auto zeroed = [](const void *chunk, size_t length) {
    auto *bytes = static_cast<const unsigned char *>(chunk);
    for (size_t i = 0; i < length; i++) {
      if (bytes[i] != 0) return false;
    }
    return true;
  };
  auto fill = [](void *chunk, size_t length) { std::memset(chunk, 0xA5, length); };

  // A chunk written all over and freed as V8 frees one (access taken away, then freed) comes back, zeroed.
  void *first = allocate();
  if (first == nullptr || reinterpret_cast<uintptr_t>(first) % kChunkBytes != 0) return "no aligned chunk";
  if (!commit(first)) return "a chunk could not be committed";
  fill(first, kChunkBytes);
  if (!pages.SetPermissions(first, kChunkBytes, Permission::kNoAccess) || !pages.FreePages(first, kChunkBytes)) {
    return "a chunk could not be freed";
  }
  void *again = allocate();
  if (again != first) return "a freed chunk was not recycled";
  if (!commit(again) || !zeroed(again, kChunkBytes)) return "a recycled chunk does not read as zero";

  // Uncommitted and committed again in place: zeroed.
  fill(again, kChunkBytes);
  if (!pages.SetPermissions(again, kChunkBytes, Permission::kNoAccess) || !commit(again)) {
    return "a chunk could not be uncommitted and committed again";
  }
  if (!zeroed(again, kChunkBytes)) return "a chunk committed again does not read as zero";

  // Trimmed, written, and freed at its trimmed length without its access taken away: recycled whole, zeroed.
  constexpr size_t kKept = 64 << 10;
  fill(again, kChunkBytes);
  if (!pages.ReleasePages(again, kChunkBytes, kKept)) return "a chunk could not be trimmed";
  fill(again, kKept);
  if (!pages.FreePages(again, kKept)) return "a trimmed chunk could not be freed";
  void *whole = allocate();
  if (whole != again) return "a trimmed chunk was not recycled";
  if (!commit(whole) || !zeroed(whole, kChunkBytes)) return "a recycled trimmed chunk does not read as zero";
  fill(whole, kChunkBytes);

  // Freed before it was ever committed, then handed out again: committing it makes it writable.
  void *unused = allocate();
  if (unused == nullptr || !pages.FreePages(unused, kChunkBytes)) return "an unused chunk could not be freed";
  if (allocate() != unused || !commit(unused)) return "an unused chunk was not recycled";
  fill(unused, kChunkBytes);
  if (!pages.FreePages(unused, kChunkBytes)) return "a chunk could not be freed";
  if (allocate() != unused || !commit(unused) || !zeroed(unused, kChunkBytes)) {
    return "a recycled chunk does not read as zero";
  }
  if (!pages.FreePages(unused, kChunkBytes)) return "a chunk could not be freed";

  // Freed while writable (no access taken away first): zeroed on the way.
  if (!pages.FreePages(whole, kChunkBytes)) return "a chunk could not be freed";

  // No more than kMaxRecycledChunks are kept: the others are given back.
  std::vector<void *> many;
  for (size_t i = 0; i < kMaxRecycledChunks + 4; i++) {
    void *chunk = allocate();
    if (chunk == nullptr || !commit(chunk)) return "a chunk could not be allocated";
    fill(chunk, kChunkBytes);
    many.push_back(chunk);
  }
  if (many[0] != whole) return "the chunk freed writable was not recycled";
  if (std::set<void *>(many.begin(), many.end()).size() != many.size() || pages.Recycled() != 0) {
    return "a recycled chunk was handed out twice";
  }
  for (void *chunk : many) {
    if (!pages.FreePages(chunk, kChunkBytes)) return "a chunk could not be freed";
  }
  if (pages.Recycled() != kMaxRecycledChunks) return "more or fewer chunks than the bound were kept";
  for (size_t i = 0; i < kMaxRecycledChunks; i++) {
    void *chunk = allocate();
    if (chunk == nullptr || !commit(chunk) || !zeroed(chunk, kChunkBytes)) {
      return "a recycled chunk does not read as zero";
    }
    many[i] = chunk;
  }
  for (size_t i = 0; i < kMaxRecycledChunks; i++) pages.FreePages(many[i], kChunkBytes);

  // A code range: a part written and uncommitted reads as zero when committed again; another written part is zeroed
  // when the range is freed, and the range comes back whole for a reservation of the same length.
  constexpr size_t kRange = kMinRangeBytes;
  auto *range = static_cast<unsigned char *>(pages.AllocatePages(nullptr, kRange, 4096, Permission::kNoAccess));
  if (range == nullptr) return "no code range";
  if (!pages.SetPermissions(range, kChunkBytes, Permission::kReadWrite)) return "a code chunk could not be committed";
  fill(range, kChunkBytes);
  if (!pages.SetPermissions(range, kChunkBytes, Permission::kNoAccess) ||
      !pages.SetPermissions(range, kChunkBytes, Permission::kReadWrite) || !zeroed(range, kChunkBytes)) {
    return "a code chunk committed again does not read as zero";
  }
  unsigned char *later = range + 8 * kChunkBytes;
  if (!pages.SetPermissions(later, kChunkBytes, Permission::kReadWrite)) return "a code chunk could not be committed";
  fill(range, kChunkBytes);
  fill(later, kChunkBytes);
  if (!pages.FreePages(range, kRange) || pages.RecycledRanges() != 1) return "a freed code range was not kept";
  void *shorter = pages.AllocatePages(nullptr, kRange / 2, 4096, Permission::kNoAccess);
  if (shorter == nullptr || shorter == range) return "a code range was handed out for another length";
  pages.FreePages(shorter, kRange / 2);
  if (pages.AllocatePages(nullptr, kRange, 4096, Permission::kNoAccess) != range) {
    return "a freed code range was not recycled";
  }
  if (!pages.SetPermissions(range, kRange, Permission::kReadWrite) || !zeroed(range, kRange)) {
    return "a recycled code range does not read as zero";
  }
  fill(later, kChunkBytes);
  if (!pages.FreePages(range, kRange)) return "a code range could not be freed";

  // Anything else is left to the system's allocator.
  void *other = pages.AllocatePages(nullptr, 2 * kChunkBytes, kChunkBytes, Permission::kNoAccess);
  if (other == nullptr || !pages.SetPermissions(other, 2 * kChunkBytes, Permission::kReadWrite)) {
    return "a larger region could not be allocated";
  }
  fill(other, 2 * kChunkBytes);
  if (!pages.FreePages(other, 2 * kChunkBytes)) return "a larger region could not be freed";
  if (pages.Recycled() != kMaxRecycledChunks) return "a larger region was recycled";
  return nullptr;
}

}  // namespace

}  // namespace isobox

extern "C" const char *isobox_v8_check_page_recycling(void) { return isobox::CheckPageRecycling(); }
