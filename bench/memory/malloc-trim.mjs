// A lever bench/memory measures, not shipped: loaded into a daemon with --import, it calls
// glibc's malloc_trim(0) (through node:ffi) every 10 seconds. Freed message buffers that
// glibc keeps in its main heap, fragmented, go back to the kernel (madvise), without the
// per-allocation cost of a low MALLOC_MMAP_THRESHOLD_. The daemons could do the same in
// cli/compact-heap.ts; this file shows what it would save. Plain JavaScript: a .ts given to
// --import would load Node's type stripper into the daemon (+11 MiB private memory).
import { dlopen } from "node:ffi";

const { functions } = dlopen("libc.so.6", { malloc_trim: { arguments: ["uint64"], return: "int32" } });
setInterval(() => functions.malloc_trim(0n), 10_000).unref();
