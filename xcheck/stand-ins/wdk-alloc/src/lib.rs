//! Stand-in for `wdk-alloc` 0.4.2 during the Windows-target check: the global allocator over
//! non-paged pool.
#![no_std]

use core::alloc::{GlobalAlloc, Layout};

/// Allocates from non-paged pool (`ExAllocatePool2(POOL_FLAG_NON_PAGED, ...)`).
pub struct WdkAllocator;

const TAG: u32 = u32::from_le_bytes(*b"rust");

// SAFETY: pool allocations are at least 16-byte aligned on 64-bit targets (8 on x86); larger
// alignments are refused (null), as GlobalAlloc allows.
unsafe impl GlobalAlloc for WdkAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() > 2 * core::mem::size_of::<usize>() {
            return core::ptr::null_mut();
        }
        // SAFETY: a plain pool allocation.
        unsafe { wdk_sys::ntddk::ExAllocatePool2(wdk_sys::POOL_FLAG_NON_PAGED, layout.size(), TAG).cast() }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from `alloc`.
        unsafe { wdk_sys::ntddk::ExFreePool(ptr.cast()) }
    }
}
