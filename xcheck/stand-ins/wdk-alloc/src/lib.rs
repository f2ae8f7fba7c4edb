//! Stand-in for `wdk-alloc` 0.4.2 during the Windows-target check: the global allocator over
//! non-paged pool.
//!
//! As the real crate: `ExAllocatePool2(POOL_FLAG_NON_PAGED, size, 'rust')` for every layout and
//! `ExFreePool`. The real crate ignores the layout's alignment, so a type aligned to more than
//! `MEMORY_ALLOCATION_ALIGNMENT` (ntdef.h: 16 on 64-bit Windows, the alignment of every pool
//! block) silently gets misaligned memory. Stricter here: such a request is a panic, which the
//! panic handler turns into a bug check (the emulator reports it and stops), instead of memory
//! that looks fine until it is used. The driver's allocation helpers refuse such types at compile
//! time (ringtun-driver's `fallible` module), so neither build should ever get there.
#![no_std]

use core::alloc::{GlobalAlloc, Layout};

/// Allocates from non-paged pool (`ExAllocatePool2(POOL_FLAG_NON_PAGED, ...)`).
pub struct WdkAllocator;

/// The tag of every allocation, as the real crate writes it (`u32::from_ne_bytes(*b"rust")`).
const TAG: u32 = u32::from_ne_bytes(*b"rust");

/// ntdef.h (64-bit Windows): `#define MEMORY_ALLOCATION_ALIGNMENT 16`.
const MEMORY_ALLOCATION_ALIGNMENT: usize = 16;

// SAFETY: pool blocks are aligned to MEMORY_ALLOCATION_ALIGNMENT, which satisfies every layout
// this allocator hands out; larger alignments never get memory (see the crate docs).
unsafe impl GlobalAlloc for WdkAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() > MEMORY_ALLOCATION_ALIGNMENT {
            // The kernel build has panic=abort: this does not unwind out of the allocator.
            panic!("wdk-alloc stand-in: alignment above MEMORY_ALLOCATION_ALIGNMENT, which the real crate ignores");
        }
        // SAFETY: a plain pool allocation at IRQL <= DISPATCH_LEVEL (the caller's duty, as with the
        // real crate).
        unsafe {
            wdk_sys::ntddk::ExAllocatePool2(wdk_sys::POOL_FLAG_NON_PAGED, layout.size() as wdk_sys::SIZE_T, TAG).cast()
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from `alloc`.
        unsafe { wdk_sys::ntddk::ExFreePool(ptr.cast()) }
    }
}
