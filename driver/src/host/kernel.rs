//! Host stand-ins for the kernel objects a client and the driver share: events named by handles,
//! and ring memory that can be "probed and locked" by address and mapped a second time for the
//! driver (shared memory objects, so the driver's view is its own mapping, as in the kernel).

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::Thread;
use std::time::{Duration, Instant};
use std::vec::Vec;

use crate::platform::Event;

#[derive(Debug)]
struct EventInner {
    signalled: AtomicBool,
    auto_reset: bool,
    /// Threads registered in `waiters` (read without the lock by `set`).
    waiting: AtomicUsize,
    waiters: Mutex<Vec<Thread>>,
}

/// A kernel event: notification (manual reset) or synchronization (auto reset).
///
/// Each event wakes only the threads waiting on it. A waiter registers its thread with every
/// event it waits for, then checks them, then parks (a futex wait); `set` stores the state, then
/// unparks the registered threads, if any (a futex wake). Both sides order their store before
/// their load (`SeqCst`), so either the waiter sees the event set or the setter sees the waiter:
/// no lost wake-up. A `set` nobody waits for costs an atomic store and a load, no system call.
#[derive(Clone, Debug)]
pub struct HostEvent {
    inner: Arc<EventInner>,
    _live: Option<Arc<crate::host::Live>>,
}

impl HostEvent {
    /// A new event.
    pub fn new(auto_reset: bool, initially_set: bool) -> Self {
        let inner = EventInner {
            signalled: AtomicBool::new(initially_set),
            auto_reset,
            waiting: AtomicUsize::new(0),
            waiters: Mutex::new(Vec::new()),
        };
        Self { inner: Arc::new(inner), _live: None }
    }

    /// The same event, counted as a platform resource until this value and its clones are gone
    /// (an engine-owned event, or the engine's reference to a client's event).
    pub(crate) fn counted(self, live: crate::host::Live) -> Self {
        Self { inner: self.inner, _live: Some(Arc::new(live)) }
    }

    /// Whether it is signalled now.
    pub fn is_set(&self) -> bool {
        self.inner.signalled.load(Ordering::SeqCst)
    }

    fn try_consume(&self) -> bool {
        if self.inner.auto_reset {
            // Only a signalled event is swapped, so a wait on a clear one stays a plain load.
            self.inner.signalled.load(Ordering::SeqCst) && self.inner.signalled.swap(false, Ordering::SeqCst)
        } else {
            self.inner.signalled.load(Ordering::SeqCst)
        }
    }

    fn waiters(&self) -> MutexGuard<'_, Vec<Thread>> {
        self.inner.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn register(&self, me: &Thread) {
        self.waiters().push(me.clone());
        self.inner.waiting.fetch_add(1, Ordering::SeqCst);
    }

    fn unregister(&self, me: &Thread) {
        let mut waiters = self.waiters();
        if let Some(i) = waiters.iter().position(|t| t.id() == me.id()) {
            waiters.swap_remove(i);
            self.inner.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Waits until one of `events` is signalled, up to `timeout`. Returns the index, or `None`
    /// on timeout (or if `events` is empty).
    pub fn wait_any(events: &[&HostEvent], timeout: Option<Duration>) -> Option<usize> {
        if events.is_empty() {
            return None;
        }
        if let Some(i) = events.iter().position(|e| e.try_consume()) {
            return Some(i);
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        let me = std::thread::current();
        for e in events {
            e.register(&me);
        }
        let found = loop {
            if let Some(i) = events.iter().position(|e| e.try_consume()) {
                break Some(i);
            }
            match deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break None;
                    }
                    std::thread::park_timeout(deadline - now);
                }
            }
        };
        for e in events {
            e.unregister(&me);
        }
        found
    }
}

impl Event for HostEvent {
    fn set(&self) {
        self.inner.signalled.store(true, Ordering::SeqCst);
        if self.inner.waiting.load(Ordering::SeqCst) != 0 {
            for t in self.waiters().iter() {
                t.unpark();
            }
        }
    }

    fn clear(&self) {
        self.inner.signalled.store(false, Ordering::SeqCst);
    }

    fn is_same_object(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// The system's page size (a mapping covers whole pages).
fn page_size() -> usize {
    // SAFETY: `sysconf` with a valid name has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page).ok().filter(|p| p.is_power_of_two()).unwrap_or(4096)
}

/// Zeroed ring memory a client allocates: the pages of a shared memory object (`memfd_create`)
/// mapped into the client's view, page-aligned. The driver side never uses this view: it maps
/// the same pages a second time (`RingAllocation::map_view`), as the kernel maps a client's
/// locked pages into system space, and unmaps them when the engine releases the mapping. An
/// engine access after the release then faults, as it would bugcheck in the kernel.
#[derive(Debug)]
pub struct RingAllocation {
    ptr: *mut u8,
    /// Bytes asked for (what a probe may cover).
    len: usize,
    /// Bytes mapped: `len` rounded up to whole pages.
    mapped_len: usize,
    /// The shared memory object, for the driver's mappings of the same pages.
    fd: OwnedFd,
}

// SAFETY: the allocation is plain shared memory owned by this value; all access goes through raw
// pointers (`SharedRing`), never through references.
unsafe impl Send for RingAllocation {}
// SAFETY: as above.
unsafe impl Sync for RingAllocation {}

impl RingAllocation {
    /// `size` zeroed bytes (at least one page) in a new shared memory object, mapped anywhere, or
    /// (`low`) entirely below 4 GiB, as a 32-bit process's memory lies.
    fn new(size: usize, low: bool) -> Option<Self> {
        let len = size.max(1);
        let mapped_len = len.checked_next_multiple_of(page_size())?;
        // SAFETY: a NUL-terminated name and valid flags; the result is checked.
        let raw = unsafe { libc::memfd_create(c"ringtun-ring".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return None;
        }
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // A new object is empty; growing it gives zeroed pages.
        // SAFETY: our own descriptor and a non-negative length.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), libc::off_t::try_from(mapped_len).ok()?) } != 0 {
            return None;
        }
        let flags = if low { libc::MAP_SHARED | low_flag()? } else { libc::MAP_SHARED };
        // SAFETY: a shared mapping of the whole object with no address hint; the result is checked.
        let ptr = unsafe {
            libc::mmap(core::ptr::null_mut(), mapped_len, libc::PROT_READ | libc::PROT_WRITE, flags, fd.as_raw_fd(), 0)
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        let allocation = Self { ptr: ptr.cast(), len, mapped_len, fd };
        let below_4g = (allocation.ptr as u64).checked_add(mapped_len as u64)? <= u64::from(u32::MAX);
        (!low || below_4g).then_some(allocation)
    }

    /// First byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the allocation is empty (never).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn contains(&self, address: u64, len: u64) -> bool {
        let start = self.ptr as u64;
        let Some(end) = address.checked_add(len) else { return false };
        address >= start && end <= start + self.len as u64
    }

    /// Maps the pages holding `[address, address + len)` (a range [`Self::contains`] accepted) a
    /// second time, for the driver: what locking the pages and mapping them into system space
    /// gives in the kernel. The view keeps the byte offset within the page, so its address has the
    /// alignment of `address`.
    ///
    /// With `RINGTUN_HOST_ONE_VIEW=1` in the environment the driver uses the client's own view
    /// instead (nothing is mapped or unmapped): ThreadSanitizer tracks memory by address, so
    /// under it both sides must use the same addresses for their accesses to be compared.
    pub(crate) fn map_view(&self, address: u64, len: u64) -> Option<RingView> {
        if !self.contains(address, len) {
            return None;
        }
        if one_view() {
            let base = address as usize as *mut u8;
            return Some(RingView { map: base, map_len: 0, base });
        }
        let offset = usize::try_from(address.checked_sub(self.ptr as u64)?).ok()?;
        let first_page = offset & !(page_size() - 1);
        let end = offset.checked_add(usize::try_from(len).ok()?)?.checked_next_multiple_of(page_size())?;
        // Inside the object: `end <= mapped_len`, since the range lies inside the allocation.
        let map_len = end.checked_sub(first_page).filter(|&n| n != 0)?;
        // SAFETY: a shared mapping of pages of our own object (inside its size, page-aligned
        // offset, no address hint); the result is checked.
        let map = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.fd.as_raw_fd(),
                libc::off_t::try_from(first_page).ok()?,
            )
        };
        if map == libc::MAP_FAILED {
            return None;
        }
        let map = map.cast::<u8>();
        Some(RingView { map, map_len, base: map.wrapping_add(offset - first_page) })
    }
}

/// Whether the driver uses the client's view of ring memory (`RINGTUN_HOST_ONE_VIEW=1`, for
/// ThreadSanitizer runs) instead of a mapping of its own.
fn one_view() -> bool {
    static ONE_VIEW: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ONE_VIEW.get_or_init(|| std::env::var_os("RINGTUN_HOST_ONE_VIEW").is_some_and(|v| v == "1"))
}

/// `MAP_32BIT` where the host has it (x86-64 Linux), to place memory below 4 GiB.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn low_flag() -> Option<libc::c_int> {
    Some(libc::MAP_32BIT)
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn low_flag() -> Option<libc::c_int> {
    None
}

impl Drop for RingAllocation {
    fn drop(&mut self) {
        // SAFETY: mapped in `new` with this length and unmapped only here; the descriptor closes
        // after this (the driver's views, if any, keep the pages).
        unsafe {
            libc::munmap(self.ptr.cast(), self.mapped_len);
        }
    }
}

/// The driver's own mapping of a ring's pages ([`RingAllocation::map_view`]), unmapped when
/// dropped: any access through it afterwards faults.
#[derive(Debug)]
pub(crate) struct RingView {
    map: *mut u8,
    map_len: usize,
    /// Where the ring starts in the view.
    base: *mut u8,
}

// SAFETY: the view is plain shared memory owned by this value; all access goes through raw
// pointers.
unsafe impl Send for RingView {}
// SAFETY: as above.
unsafe impl Sync for RingView {}

impl RingView {
    /// The ring's first byte in this view.
    pub(crate) fn base(&self) -> *mut u8 {
        self.base
    }
}

impl Drop for RingView {
    fn drop(&mut self) {
        if self.map_len == 0 {
            // The client's own view (`RINGTUN_HOST_ONE_VIEW`): nothing of ours to unmap.
            return;
        }
        // SAFETY: mapped in `map_view` with this length and unmapped only here.
        unsafe {
            libc::munmap(self.map.cast(), self.map_len);
        }
    }
}

/// The host "kernel": handle table for events, and the registry of client ring memory that
/// `map_ring` probes against (an unknown address fails like `MmProbeAndLockPages` would).
#[derive(Debug, Default)]
pub struct HostKernel {
    next_handle: AtomicU64,
    handles: Mutex<HashMap<u64, HostEvent>>,
    memory: Mutex<Vec<Weak<RingAllocation>>>,
}

impl HostKernel {
    /// A new kernel.
    pub fn new() -> Arc<Self> {
        Arc::new(Self { next_handle: AtomicU64::new(0x100), ..Self::default() })
    }

    /// `CreateEvent`: a new event and its handle (multiples of 4, like Windows handles).
    pub fn create_event(&self, auto_reset: bool, initially_set: bool) -> (u64, HostEvent) {
        let handle = self.next_handle.fetch_add(4, Ordering::Relaxed);
        let event = HostEvent::new(auto_reset, initially_set);
        self.handles.lock().unwrap_or_else(|e| e.into_inner()).insert(handle, event.clone());
        (handle, event)
    }

    /// `ObReferenceObjectByHandle` for an event.
    pub fn event(&self, handle: u64) -> Option<HostEvent> {
        self.handles.lock().unwrap_or_else(|e| e.into_inner()).get(&handle).cloned()
    }

    /// `DuplicateHandle` within the process: a second handle to the event `handle` names, or
    /// `None` if it names none.
    pub fn duplicate_handle(&self, handle: u64) -> Option<u64> {
        let mut handles = self.handles.lock().unwrap_or_else(|e| e.into_inner());
        let event = handles.get(&handle)?.clone();
        let duplicate = self.next_handle.fetch_add(4, Ordering::Relaxed);
        handles.insert(duplicate, event);
        Some(duplicate)
    }

    /// `CloseHandle` (references taken before stay valid).
    pub fn close_handle(&self, handle: u64) {
        self.handles.lock().unwrap_or_else(|e| e.into_inner()).remove(&handle);
    }

    /// Allocates ring memory and registers it as lockable user memory.
    pub fn alloc_ring(&self, size: usize) -> Option<Arc<RingAllocation>> {
        self.register(RingAllocation::new(size, false)?)
    }

    /// Allocates ring memory below 4 GiB (what a 32-bit process gets), where the host can.
    pub fn alloc_ring_low(&self, size: usize) -> Option<Arc<RingAllocation>> {
        self.register(RingAllocation::new(size, true)?)
    }

    fn register(&self, allocation: RingAllocation) -> Option<Arc<RingAllocation>> {
        let allocation = Arc::new(allocation);
        let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        memory.retain(|w| w.strong_count() > 0);
        memory.push(Arc::downgrade(&allocation));
        Some(allocation)
    }

    /// Ring allocations still alive (held by a client or by a driver mapping).
    pub fn live_ring_allocations(&self) -> usize {
        self.memory.lock().unwrap_or_else(|e| e.into_inner()).iter().filter(|w| w.strong_count() > 0).count()
    }

    /// Event handles still open.
    pub fn open_handles(&self) -> usize {
        self.handles.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Finds the live allocation holding `[address, address + len)`.
    pub fn probe(&self, address: u64, len: u64) -> Option<Arc<RingAllocation>> {
        let memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        memory.iter().filter_map(Weak::upgrade).find(|a| a.contains(address, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the page holding `address` is mapped (`mincore` fails with ENOMEM otherwise).
    fn is_mapped(address: *const u8) -> bool {
        let page = page_size();
        let start = (address as usize & !(page - 1)) as *mut libc::c_void;
        let mut resident = [0u8; 1];
        // SAFETY: a one-page query with a one-byte result vector; `mincore` only reports.
        unsafe { libc::mincore(start, page, resident.as_mut_ptr()) == 0 }
    }

    /// The driver's view is a second mapping of the same pages: bytes written through either are
    /// read through the other, at the same offset within the page; once the view is dropped its
    /// pages are gone from the address space (an access would fault), while the client's view
    /// stays.
    #[test]
    fn the_driver_view_shares_the_pages_and_is_unmapped_when_dropped() {
        let kernel = HostKernel::new();
        let size = 3 * page_size() + 100;
        let memory = kernel.alloc_ring(size).unwrap();
        assert_eq!(memory.len(), size);
        assert_eq!(memory.as_ptr() as usize % page_size(), 0);
        let ring_at = memory.as_ptr() as u64 + 4100;
        let probed = kernel.probe(ring_at, 2 * page_size() as u64).unwrap();
        let view = probed.map_view(ring_at, 2 * page_size() as u64).unwrap();
        assert_ne!(view.base(), memory.as_ptr().wrapping_add(4100));
        assert_eq!(view.base() as usize % page_size(), 4100 % page_size());
        // SAFETY: both addresses lie inside live mappings of the same object.
        unsafe {
            view.base().write(0xAB);
            assert_eq!(memory.as_ptr().add(4100).read(), 0xAB);
            memory.as_ptr().add(4100 + page_size()).write(0xCD);
            assert_eq!(view.base().add(page_size()).read(), 0xCD);
            // Zeroed where nobody wrote.
            assert_eq!(view.base().add(1).read(), 0);
        }
        let base = view.base();
        assert!(is_mapped(base));
        drop(view);
        assert!(!is_mapped(base), "the driver's view outlived its release");
        assert!(is_mapped(memory.as_ptr().wrapping_add(4100)));
        // A range beyond the allocation is refused, as a probe would refuse it.
        assert!(probed.map_view(memory.as_ptr() as u64 + size as u64 - 8, 16).is_none());
        assert!(kernel.probe(memory.as_ptr() as u64 + size as u64 - 8, 16).is_none());
    }

    /// Low memory (a 32-bit process's) is also shared memory, entirely below 4 GiB.
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn low_allocations_lie_below_4_gib() {
        let kernel = HostKernel::new();
        let memory = kernel.alloc_ring_low(0x31000).unwrap();
        assert!(memory.as_ptr() as u64 + 0x31000 <= u64::from(u32::MAX));
        let view = memory.map_view(memory.as_ptr() as u64, 0x31000).unwrap();
        // SAFETY: inside both live mappings.
        unsafe {
            view.base().add(0x30FFF).write(7);
            assert_eq!(memory.as_ptr().add(0x30FFF).read(), 7);
        }
    }
}
