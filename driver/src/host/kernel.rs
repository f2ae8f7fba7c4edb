//! Host stand-ins for the kernel objects a client and the driver share: events named by handles,
//! and ring memory that can be "probed and locked" by address.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::collections::HashMap;
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

/// Page-aligned, zeroed memory a client allocates for a ring.
#[derive(Debug)]
pub struct RingAllocation {
    ptr: *mut u8,
    layout: Layout,
    /// Mapped below 4 GiB with `mmap` (a 32-bit process's address space) rather than allocated.
    low: bool,
}

// SAFETY: the allocation is plain memory owned by this value; all access goes through raw
// pointers (`SharedRing`), never through references.
unsafe impl Send for RingAllocation {}
// SAFETY: as above.
unsafe impl Sync for RingAllocation {}

impl RingAllocation {
    const PAGE: usize = 4096;

    fn new(size: usize) -> Option<Self> {
        let layout = Layout::from_size_align(size.max(1), Self::PAGE).ok()?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        (!ptr.is_null()).then_some(Self { ptr, layout, low: false })
    }

    /// Zeroed memory whose whole range lies below 4 GiB, as a 32-bit process's would.
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    fn new_low(size: usize) -> Option<Self> {
        let layout = Layout::from_size_align(size.max(1), Self::PAGE).ok()?;
        // SAFETY: an anonymous private mapping with no address hint; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                layout.size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        let allocation = Self { ptr: ptr.cast(), layout, low: true };
        ((allocation.ptr as u64).checked_add(layout.size() as u64)? <= u64::from(u32::MAX)).then_some(allocation)
    }

    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    fn new_low(_size: usize) -> Option<Self> {
        None
    }

    /// First byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.layout.size()
    }

    /// Whether the allocation is empty (never).
    pub fn is_empty(&self) -> bool {
        self.layout.size() == 0
    }

    fn contains(&self, address: u64, len: u64) -> bool {
        let start = self.ptr as u64;
        let Some(end) = address.checked_add(len) else { return false };
        address >= start && end <= start + self.layout.size() as u64
    }
}

impl Drop for RingAllocation {
    fn drop(&mut self) {
        if self.low {
            #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
            // SAFETY: mapped in `new_low` with this length and unmapped only here.
            unsafe {
                libc::munmap(self.ptr.cast(), self.layout.size());
            }
        } else {
            // SAFETY: allocated in `new` with this layout and freed only here.
            unsafe { dealloc(self.ptr, self.layout) };
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
        self.register(RingAllocation::new(size)?)
    }

    /// Allocates ring memory below 4 GiB (what a 32-bit process gets), where the host can.
    pub fn alloc_ring_low(&self, size: usize) -> Option<Arc<RingAllocation>> {
        self.register(RingAllocation::new_low(size)?)
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
