// Allocator settings for the long-running servers (SuperLink, SuperNode). glibc's defaults
// suit short programs: its mmap threshold grows to 32 MiB after the first large free, so
// later model-sized buffers (objects of several MiB) come from per-thread arenas that keep
// the memory after use, and every thread that allocates may get an arena of its own. A fixed
// 512 KiB threshold returns each large buffer to the OS when freed, and two arenas bound what
// idle threads hold: the peak RSS of a SuperNode forwarding a 4 MB model halves.
#ifndef FLWR_CORE_MALLOC_TUNING_H_
#define FLWR_CORE_MALLOC_TUNING_H_

namespace flwr::core {

// Applies the settings above unless MALLOC_MMAP_THRESHOLD_ / MALLOC_ARENA_MAX are set in the
// environment (then glibc's own handling of those wins). Call once, early in main().
void TuneMallocForServers();

// Turns off Abseil's mutex deadlock detection. Debian builds Abseil without NDEBUG, so every
// absl::Mutex lock (ours and gRPC's) also updates a global lock-order graph under a global
// spinlock: measurable CPU on each Fleet call of a busy SuperLink. Call once, early in main().
void DisableMutexDeadlockDetection();

// Gives the free pages of the heap back to the OS (malloc_trim). The many small buffers gRPC
// receives a large message in come from the heap, not mmap, and stay resident after they are
// freed; a SuperNode calls this after each message it has received and each reply it has sent.
void ReleaseFreeHeapMemory();

}  // namespace flwr::core

#endif  // FLWR_CORE_MALLOC_TUNING_H_
