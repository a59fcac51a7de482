// Counts heap calls (malloc family and operator new/delete) made by the thread that set
// `alloc_watch`, by interposing glibc's allocator for the whole process (plugins included).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}

inline thread_local bool alloc_watch = false;  // set around the audio callback under test
inline std::atomic<long> alloc_count{0};

static inline void alloc_note() {
    if (alloc_watch) alloc_count.fetch_add(1, std::memory_order_relaxed);
}

extern "C" {
void* malloc(size_t n) { alloc_note(); return __libc_malloc(n); }
void* calloc(size_t a, size_t b) { alloc_note(); return __libc_calloc(a, b); }
void* realloc(void* p, size_t n) { alloc_note(); return __libc_realloc(p, n); }
void free(void* p) { if (p) alloc_note(); __libc_free(p); }
void* memalign(size_t a, size_t n) { alloc_note(); return __libc_memalign(a, n); }
void* aligned_alloc(size_t a, size_t n) { alloc_note(); return __libc_memalign(a, n); }
int posix_memalign(void** out, size_t a, size_t n) {
    alloc_note();
    *out = __libc_memalign(a, n);
    return *out ? 0 : 12;
}
}

void* operator new(size_t n) { alloc_note(); void* p = __libc_malloc(n ? n : 1); if (!p) throw std::bad_alloc(); return p; }
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, std::align_val_t a) { alloc_note(); return __libc_memalign(static_cast<size_t>(a), n); }
void* operator new[](size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { free(p); }
void operator delete[](void* p) noexcept { free(p); }
void operator delete(void* p, size_t) noexcept { free(p); }
void operator delete[](void* p, size_t) noexcept { free(p); }
void operator delete(void* p, std::align_val_t) noexcept { free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { free(p); }
