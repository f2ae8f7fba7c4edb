//! Allocation that fails cleanly instead of aborting, and whose alignment the kernel heap can
//! honour: [`try_box`], [`TryArc`], [`try_vec_with_capacity`], [`try_deque_with_capacity`],
//! [`try_reserve`] and [`try_push`].
//!
//! In the kernel an allocation failure is an ordinary event (pool exhaustion, Driver Verifier's
//! low-resources simulation). `Box::new` and `alloc::sync::Arc::new` call
//! `handle_alloc_error` when the allocator returns null, which in a driver is a panic and so a
//! bug check. Stable Rust has no `Arc::try_new`, so the driver owns a small reference-counted box
//! whose constructor reports failure: [`TryArc::try_new`]. Every allocation on a kernel-reachable
//! path goes through this module; the host test
//! `low_resources` fails each allocation of a registration in turn with a failing global
//! allocator and checks that each failure becomes a clean refusal.
//!
//! # Alignment
//! In the kernel the global allocator is `wdk-alloc`'s, which hands every `Layout` to
//! `ExAllocatePool2` and ignores its alignment: pool blocks are aligned to
//! `MEMORY_ALLOCATION_ALIGNMENT` (ntdef.h: 16 on 64-bit Windows) and to nothing more, so a type
//! aligned to 32 or 64 would silently get misaligned memory. Every helper here therefore checks,
//! at compile time, that the type it allocates is aligned to at most [`HEAP_ALIGN`]: an inline
//! `const` block in the generic function, evaluated for each type the helper is instantiated
//! with, so allocating an over-aligned type is a build error (E0080), not a run-time surprise.
//!
//! That evaluation happens after monomorphization, so only in builds that generate code:
//! `cargo build` and `cargo test` (the `compile_fail` doctests below are such builds), the
//! Windows-target check's rlib builds (`scripts/xcheck`), `scripts/link-sys`'s staticlib and the
//! WDK build. `cargo check` and `cargo clippy` stop before monomorphization and never evaluate
//! it: an over-aligned allocation passes them and fails the next full build. And only the
//! instantiations code generation reaches are checked (a generic caller that no concrete code
//! instantiates allocates nothing either).
//!
//! Every heap allocation of the engine and the kernel shell goes through these helpers; the
//! crate's `clippy.toml` disallows the allocating methods they wrap (`Vec::try_reserve*`,
//! `VecDeque::try_reserve*`, `alloc::alloc::alloc`) and `Vec::push` (which grows infallibly and
//! unchecked when the vector is full) everywhere else, pointing to the helper to use instead
//! (for `Vec::push`, [`try_push`]). Clippy flags the call; the alignment itself is the full
//! build's to check.
//!
//! ```compile_fail,E0080
//! /// A cache-line aligned type, as a per-CPU counter block might be declared.
//! #[repr(align(64))]
//! struct CacheLine([u8; 64]);
//! let _ = ringtun_driver::fallible::try_box(CacheLine([0; 64]));
//! ```
//!
//! The same with the largest alignment the pool guarantees builds:
//!
//! ```
//! #[repr(align(16))]
//! struct Aligned([u8; 16]);
//! let boxed = ringtun_driver::fallible::try_box(Aligned([7; 16])).unwrap();
//! assert_eq!(boxed.0, [7; 16]);
//! ```
//!
//! # `TryArc`
//! A strong count and a weak count (the weak count includes one for all strong references
//! together, as in the standard library) in front of the value, in one allocation from the global
//! allocator with `Layout::new`. Orderings follow the standard library's `Arc`: increments are
//! `Relaxed`, decrements `Release`, and the thread that drops the last reference issues an
//! `Acquire` fence before destroying the value or freeing the memory.
//!
//! Overflow: a count that reaches [`SATURATED_FROM`] (half the `usize` range, which takes 2^63
//! live references on the 64-bit kernel targets) is pinned at [`SATURATED`] and never decremented
//! again, so the object leaks instead of being freed while still referenced. The standard
//! library aborts instead; a leak is the kernel-friendly answer and cannot bug-check.

use alloc::alloc::{alloc, dealloc, Layout};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::Deref;
use core::ptr::{self, NonNull};
use core::sync::atomic::{fence, AtomicUsize, Ordering};

/// A count at or above this value is saturated.
pub const SATURATED_FROM: usize = usize::MAX / 2 + 1;
/// The value a saturated count is pinned at (mid-way through the saturated range, so racing
/// increments and decrements cannot move it back below [`SATURATED_FROM`]).
pub const SATURATED: usize = SATURATED_FROM + SATURATED_FROM / 2;

/// The largest alignment a heap allocation of the driver may need: `MEMORY_ALLOCATION_ALIGNMENT`
/// (ntdef.h, 64-bit Windows), the alignment of every pool block `ExAllocatePool2` returns. The
/// kernel's allocator (`wdk-alloc`) does not look at `Layout::align`; see the module docs.
pub const HEAP_ALIGN: usize = 16;

/// Stops the build when `T` needs more alignment than the kernel heap gives (see the module
/// docs). Evaluated once per type the calling helper is instantiated with, when code is
/// generated for it: by full builds, not by `cargo check` or clippy.
#[inline(always)]
const fn assert_heap_aligned<T>() {
    const {
        assert!(
            core::mem::align_of::<T>() <= HEAP_ALIGN,
            "a kernel heap allocation of a type aligned to more than MEMORY_ALLOCATION_ALIGNMENT (16): \
             wdk-alloc ignores Layout::align, so it would be misaligned"
        )
    }
}

/// The allocator returned no memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory;

/// `Box::new` that returns [`OutOfMemory`] instead of aborting when the allocator fails.
pub fn try_box<T>(value: T) -> Result<Box<T>, OutOfMemory> {
    assert_heap_aligned::<T>();
    let layout = Layout::new::<T>();
    if layout.size() == 0 {
        // A zero-sized box allocates nothing.
        return Ok(Box::new(value));
    }
    #[allow(clippy::disallowed_methods)] // the wrapper itself
    // SAFETY: `layout` has a non-zero size.
    let raw = unsafe { alloc(layout) }.cast::<T>();
    if raw.is_null() {
        return Err(OutOfMemory);
    }
    // SAFETY: `raw` is a fresh allocation of `T`'s layout from the global allocator, which is
    // what `Box::from_raw` requires; it is initialized by the write before the box is formed.
    unsafe {
        raw.write(value);
        Ok(Box::from_raw(raw))
    }
}

/// `Vec::with_capacity` that returns [`OutOfMemory`] instead of aborting when the allocator
/// fails (capacity for at least `capacity` elements, allocated once).
///
/// ```compile_fail,E0080
/// #[repr(align(32))]
/// struct Wide(u8);
/// let _ = ringtun_driver::fallible::try_vec_with_capacity::<Wide>(4);
/// ```
pub fn try_vec_with_capacity<T>(capacity: usize) -> Result<Vec<T>, OutOfMemory> {
    let mut vec = Vec::new();
    try_reserve(&mut vec, capacity)?;
    Ok(vec)
}

/// `VecDeque::with_capacity` that returns [`OutOfMemory`] instead of aborting when the allocator
/// fails (capacity for at least `capacity` elements, allocated once).
///
/// ```compile_fail,E0080
/// #[repr(align(32))]
/// struct Wide(u8);
/// let _ = ringtun_driver::fallible::try_deque_with_capacity::<Wide>(4);
/// ```
#[allow(clippy::disallowed_methods)] // the wrapper itself
pub fn try_deque_with_capacity<T>(capacity: usize) -> Result<VecDeque<T>, OutOfMemory> {
    assert_heap_aligned::<T>();
    let mut deque = VecDeque::new();
    deque.try_reserve_exact(capacity).map_err(|_| OutOfMemory)?;
    Ok(deque)
}

/// `Vec::try_reserve` (room for `additional` more elements) with the heap-alignment check.
///
/// ```compile_fail,E0080
/// #[repr(align(32))]
/// struct Wide(u8);
/// let mut vec: Vec<Wide> = Vec::new();
/// let _ = ringtun_driver::fallible::try_reserve(&mut vec, 1);
/// ```
#[allow(clippy::disallowed_methods)] // the wrapper itself
pub fn try_reserve<T>(vec: &mut Vec<T>, additional: usize) -> Result<(), OutOfMemory> {
    assert_heap_aligned::<T>();
    vec.try_reserve_exact(additional).map_err(|_| OutOfMemory)
}

/// `Vec::push` that hands `value` back instead of aborting when the vector is full and cannot
/// grow: a full vector grows with `try_reserve` (amortized, as `push` grows), with the
/// heap-alignment check. A vector with room (one made with [`try_vec_with_capacity`] and kept
/// within it) never allocates here.
///
/// ```compile_fail,E0080
/// #[repr(align(32))]
/// struct Wide(u8);
/// let mut vec: Vec<Wide> = Vec::new();
/// let _ = ringtun_driver::fallible::try_push(&mut vec, Wide(1));
/// ```
#[allow(clippy::disallowed_methods)] // the wrapper itself
pub fn try_push<T>(vec: &mut Vec<T>, value: T) -> Result<(), T> {
    assert_heap_aligned::<T>();
    if vec.len() == vec.capacity() && vec.try_reserve(1).is_err() {
        return Err(value);
    }
    vec.push(value);
    Ok(())
}

/// Increments a count, saturating.
fn increment(count: &AtomicUsize) {
    let previous = count.fetch_add(1, Ordering::Relaxed);
    if previous >= SATURATED_FROM {
        count.store(SATURATED, Ordering::Relaxed);
    }
}

/// Decrements a count; `true` if this was the last reference (the caller must then issue an
/// `Acquire` fence before destroying). A saturated count stays saturated and never reports last.
fn decrement(count: &AtomicUsize) -> bool {
    let previous = count.fetch_sub(1, Ordering::Release);
    if previous >= SATURATED_FROM {
        count.store(SATURATED, Ordering::Relaxed);
        return false;
    }
    previous == 1
}

#[repr(C)]
struct Inner<T> {
    strong: AtomicUsize,
    /// Weak references plus one for all strong references together.
    weak: AtomicUsize,
    value: ManuallyDrop<T>,
}

/// A thread-safe reference-counted pointer whose allocation can fail (see the module docs).
pub struct TryArc<T> {
    inner: NonNull<Inner<T>>,
    _owns: PhantomData<Inner<T>>,
}

/// A non-owning reference to a [`TryArc`]'s value; [`TryWeak::upgrade`] yields a strong one while
/// any strong reference lives.
pub struct TryWeak<T> {
    inner: NonNull<Inner<T>>,
    _owns: PhantomData<Inner<T>>,
}

// SAFETY: as for `alloc::sync::Arc`: the value is shared between threads (needs `Sync`) and may
// be dropped by whichever thread releases the last reference (needs `Send`).
unsafe impl<T: Send + Sync> Send for TryArc<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for TryArc<T> {}
// SAFETY: as above (a weak reference can be upgraded on another thread).
unsafe impl<T: Send + Sync> Send for TryWeak<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for TryWeak<T> {}

impl<T> TryArc<T> {
    /// Moves `value` into a new shared allocation, or returns [`OutOfMemory`] (dropping `value`).
    ///
    /// ```compile_fail,E0080
    /// #[repr(align(32))]
    /// struct Wide(u8);
    /// let _ = ringtun_driver::fallible::TryArc::try_new(Wide(1));
    /// ```
    pub fn try_new(value: T) -> Result<Self, OutOfMemory> {
        assert_heap_aligned::<Inner<T>>();
        // `Inner` holds two counters, so its size is never zero.
        let layout = Layout::new::<Inner<T>>();
        #[allow(clippy::disallowed_methods)] // the wrapper itself
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { alloc(layout) }.cast::<Inner<T>>();
        let Some(inner) = NonNull::new(raw) else { return Err(OutOfMemory) };
        // SAFETY: a fresh allocation with `Inner<T>`'s layout; each field is written in place
        // (no temporary `Inner` on the stack: kernel stacks are small and `T` may be large)
        // before any use. `ManuallyDrop<T>` has the layout of `T`.
        unsafe {
            let raw = inner.as_ptr();
            ptr::addr_of_mut!((*raw).strong).write(AtomicUsize::new(1));
            ptr::addr_of_mut!((*raw).weak).write(AtomicUsize::new(1));
            ptr::addr_of_mut!((*raw).value).cast::<T>().write(value);
        }
        Ok(Self { inner, _owns: PhantomData })
    }

    fn inner(&self) -> &Inner<T> {
        // SAFETY: a strong reference keeps the allocation and the value alive.
        unsafe { self.inner.as_ref() }
    }

    /// The address of the value (stable for the allocation's life).
    pub fn as_ptr(this: &Self) -> *const T {
        // SAFETY: the allocation is live; only an address is formed.
        unsafe { ptr::addr_of!((*this.inner.as_ptr()).value).cast::<T>() }
    }

    /// Whether both point to the same allocation.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.inner == b.inner
    }

    /// A weak reference to the same value.
    pub fn downgrade(this: &Self) -> TryWeak<T> {
        increment(&this.inner().weak);
        TryWeak { inner: this.inner, _owns: PhantomData }
    }

    /// Gives up this reference as an opaque pointer (for a C context argument); take it back
    /// exactly once with [`TryArc::from_raw`].
    pub fn into_raw(this: Self) -> *mut c_void {
        let this = ManuallyDrop::new(this);
        this.inner.as_ptr().cast()
    }

    /// Takes back a reference given up by [`TryArc::into_raw`].
    ///
    /// # Safety
    /// `raw` came from `TryArc::<T>::into_raw` (same `T`) and is taken back only once.
    pub unsafe fn from_raw(raw: *mut c_void) -> Self {
        // SAFETY: `raw` is the non-null inner pointer of a live `TryArc<T>` (contract).
        Self { inner: unsafe { NonNull::new_unchecked(raw.cast()) }, _owns: PhantomData }
    }
}

impl<T> Clone for TryArc<T> {
    fn clone(&self) -> Self {
        increment(&self.inner().strong);
        Self { inner: self.inner, _owns: PhantomData }
    }
}

impl<T> Deref for TryArc<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner().value
    }
}

impl<T> Drop for TryArc<T> {
    fn drop(&mut self) {
        if !decrement(&self.inner().strong) {
            return;
        }
        fence(Ordering::Acquire);
        // SAFETY: this was the last strong reference: nobody else can reach the value (weak
        // references only upgrade from a non-zero strong count), so it is dropped exactly once.
        unsafe { ManuallyDrop::drop(&mut (*self.inner.as_ptr()).value) };
        // The weak reference all strong references held together.
        drop(TryWeak { inner: self.inner, _owns: PhantomData });
    }
}

impl<T> TryWeak<T> {
    /// A strong reference, unless every strong reference is gone.
    pub fn upgrade(&self) -> Option<TryArc<T>> {
        // SAFETY: a weak reference keeps the allocation (the counters) alive.
        let strong = unsafe { &self.inner.as_ref().strong };
        let mut current = strong.load(Ordering::Relaxed);
        loop {
            if current == 0 {
                return None;
            }
            if current >= SATURATED_FROM {
                // Saturated: never freed, no need to count.
                return Some(TryArc { inner: self.inner, _owns: PhantomData });
            }
            match strong.compare_exchange_weak(current, current.wrapping_add(1), Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Some(TryArc { inner: self.inner, _owns: PhantomData }),
                Err(seen) => current = seen,
            }
        }
    }
}

impl<T> Clone for TryWeak<T> {
    fn clone(&self) -> Self {
        // SAFETY: a weak reference keeps the allocation alive.
        increment(unsafe { &self.inner.as_ref().weak });
        Self { inner: self.inner, _owns: PhantomData }
    }
}

impl<T> Drop for TryWeak<T> {
    fn drop(&mut self) {
        // SAFETY: this weak reference keeps the allocation alive until the decrement.
        if !decrement(unsafe { &self.inner.as_ref().weak }) {
            return;
        }
        fence(Ordering::Acquire);
        // SAFETY: the last reference of any kind: the value was dropped with the last strong
        // reference (which released its implicit weak one before this could reach zero), and the
        // memory came from `alloc` with this layout in `try_new`.
        unsafe { dealloc(self.inner.as_ptr().cast(), Layout::new::<Inner<T>>()) };
    }
}

impl<T: fmt::Debug> fmt::Debug for TryArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T> fmt::Debug for TryWeak<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(TryWeak)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::AtomicUsize;

    struct Counted<'a>(&'a AtomicUsize);

    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn value_dropped_once_with_last_strong_reference() {
        let drops = AtomicUsize::new(0);
        let a = TryArc::try_new(Counted(&drops)).unwrap();
        let b = a.clone();
        let weak = TryArc::downgrade(&a);
        assert!(TryArc::ptr_eq(&a, &b));
        drop(a);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        let c = weak.upgrade().unwrap();
        drop(b);
        drop(c);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert!(weak.upgrade().is_none());
        drop(weak);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn raw_round_trip_keeps_the_reference() {
        let drops = AtomicUsize::new(0);
        let a = TryArc::try_new(Counted(&drops)).unwrap();
        let value = TryArc::as_ptr(&a);
        let raw = TryArc::into_raw(a.clone());
        drop(a);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        // SAFETY: from `into_raw` above, taken back once.
        let back = unsafe { TryArc::<Counted<'_>>::from_raw(raw) };
        assert_eq!(TryArc::as_ptr(&back), value);
        drop(back);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn saturated_count_never_frees() {
        let drops = AtomicUsize::new(0);
        let a = TryArc::try_new(Counted(&drops)).unwrap();
        // One below the saturated range: the next reference reaches it, the one after pins it.
        a.inner().strong.store(SATURATED_FROM - 1, Ordering::SeqCst);
        let b = a.clone();
        assert_eq!(a.inner().strong.load(Ordering::SeqCst), SATURATED_FROM);
        let c = a.clone();
        assert_eq!(a.inner().strong.load(Ordering::SeqCst), SATURATED);
        drop(c);
        drop(b);
        assert_eq!(a.inner().strong.load(Ordering::SeqCst), SATURATED);
        let leaked = TryArc::as_ptr(&a);
        drop(a);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        // The allocation is intentionally leaked; it is still readable.
        // SAFETY: a saturated allocation is never freed.
        assert!(unsafe { &*leaked }.0.load(Ordering::SeqCst) == 0);
    }

    #[test]
    fn try_box_boxes() {
        assert_eq!(*try_box(7u32).unwrap(), 7);
        assert_eq!(*try_box(()).unwrap(), ());
    }

    #[test]
    fn collections_get_their_capacity_at_once() {
        let vec = try_vec_with_capacity::<u64>(37).unwrap();
        assert!(vec.capacity() >= 37 && vec.is_empty());
        let deque = try_deque_with_capacity::<[u8; 3]>(1000).unwrap();
        assert!(deque.capacity() >= 1000 && deque.is_empty());
        let mut grown = try_vec_with_capacity::<u16>(1).unwrap();
        try_push(&mut grown, 1).unwrap();
        try_reserve(&mut grown, 100).unwrap();
        assert!(grown.capacity() >= 101);
        assert_eq!(grown, [1]);
    }

    #[test]
    fn push_uses_the_room_then_grows() {
        let mut vec = try_vec_with_capacity::<u32>(2).unwrap();
        let capacity = vec.capacity();
        let start = vec.as_ptr();
        for i in 0..capacity as u32 {
            try_push(&mut vec, i).unwrap();
        }
        assert_eq!((vec.capacity(), vec.as_ptr()), (capacity, start), "a push within the room reallocated");
        try_push(&mut vec, 99).unwrap();
        assert!(vec.capacity() > capacity);
        assert_eq!(vec.last(), Some(&99));
        assert_eq!(vec.len(), capacity + 1);
    }

    #[test]
    fn a_request_larger_than_memory_is_out_of_memory() {
        // More than isize::MAX bytes: refused by the collection before reaching the allocator.
        assert_eq!(try_vec_with_capacity::<u64>(usize::MAX / 4).unwrap_err(), OutOfMemory);
        assert_eq!(try_deque_with_capacity::<u64>(usize::MAX / 4).unwrap_err(), OutOfMemory);
    }
}
