/*
 * The alertable handshake (docs/ring-protocol.md, section 8) on a weakly ordered processor
 * (ARM64), with the data it publishes.
 *
 * Mirrors:
 *   consumer: ring-abi/src/shared.rs Ring::prepare_to_sleep (store alertable = 1 relaxed, full
 *             fence, re-load tail with acquire), called by
 *               - the driver on the Receive ring: driver/src/engine/receive.rs
 *                 Session::wait_for_tail (then wait on the client's event, then clear alertable
 *                 with a relaxed store: no fence);
 *               - the client on a v2 Send ring: client/src/session.rs Session::receive_wait;
 *             on a v1 Send ring (-DV1_SEND) the client does not use alertable: it waits on the
 *             event after finding the ring empty (Session::receive_wait, RingVersion::V1).
 *             Before it consumes a slot it has loaded `tail` with acquire (Ring::load_tail), and
 *             reads the slot after that load.
 *   producer: writes the slot, then ring-abi/src/shared.rs Ring::publish_tail (store tail with
 *             release, full fence, load alertable), called under a lock by
 *               - the client on the Receive ring: client/src/session.rs Session::finish_outgoing
 *                 (signals when alertable was seen, v1 and v2 alike);
 *               - the driver on the Send ring: driver/src/engine/send.rs, step 3 (publish under
 *                 the tail lock, signal after it: v1 always, v2 only when alertable was seen).
 *             NPROD producers publish concurrently (several senders in the driver).
 *
 * Memory model: every thread has a store buffer of SB entries; a thread sees its own buffered
 * stores (the newest wins). Buffered stores reach memory at any moment (process `drain`), and
 * each reaches every other thread at once (ARMv8 is other-multi-copy-atomic). By default the
 * buffer is ARM64's: a buffered store may reach memory before an older one of the same thread
 * when their addresses differ, unless it is a release store (`stlr`: visible only after every
 * older store); stores to one address keep their order. So a load may pass an older store (the
 * store buffering x86 also has) and a store may pass an older store (which x86 forbids). A full
 * fence (`dmb ish`, Rust's `fence(SeqCst)`, Windows' MemoryBarrier) empties the buffer. A lock
 * acquire is only an acquire on ARM64 (`ldaxr`/`casa`): older stores may still be buffered past
 * it; a lock release is a release (`stlr`): every older store is visible before the lock is seen
 * free. Event operations (KeSetEvent, SetEvent, a wait) are full fences (the dispatcher's
 * interlocked operations, or a system call). Loads are performed in program order: the acquire
 * loads of `tail` forbid a later slot read from being satisfied earlier; -DNO_ACQUIRE models what
 * a plain load would allow, the slot read performed before the tail load.
 * -DTSO makes the buffer FIFO and the lock acquire a full fence (x86-TSO, locked instructions).
 *
 * Properties, checked in every state: never is the consumer asleep on the event, the event not
 * set, data published that it has not consumed, and no producer still between its tail store
 * and its signal decision: a lost wake-up (`monitor`); a slot the consumer reads below the tail it
 * loaded holds what its producer wrote (assertion in `consume`). Also checked: no invalid end
 * state (a consumer blocked forever on the event).
 *
 * What needs no ordering: the consumer's clear of `alertable` after a wake (or after finding work)
 * is a relaxed store with no fence after it. If a producer reads the stale 1 it signals for
 * nothing (the next wait returns at once and re-reads `tail`); a producer whose load reads the
 * clear has its `tail` store ordered before that load by its fence, and the consumer never sleeps
 * before its next alertable store, fence and `tail` re-load, which then see that store. The
 * faithful model has the clear unfenced and passes.
 *
 * Variants (-D):
 *   NO_CONSUMER_FENCE  the fence between the alertable store and the tail re-load is removed
 *                      (the bug Wintun shipped);
 *   NO_PRODUCER_FENCE  the fence between the tail store and the alertable load is removed;
 *   NO_TAIL_RECHECK    the consumer sleeps after storing alertable without re-loading tail;
 *   NO_RELEASE         the tail store is relaxed: on ARM64 it can become visible before the slot
 *                      (with -DTSO the x86 buffer keeps the order and the bug does not show);
 *   NO_ACQUIRE         the consumer's tail load is relaxed: its slot read can be performed first;
 *   TSO                x86-TSO instead of ARM64 (see above);
 *   V1_SEND            v1 Send ring semantics (no alertable; the driver signals every publish);
 *   V1_SIGNAL_IF_ALERTABLE  with V1_SEND: the driver signals only when alertable is set (a v1
 *                      client never sets it);
 *   TIMED_SLEEP        the driver's bounded sleep (driver/src/engine/receive.rs
 *                      Session::sleep_bounded: wait with a timeout, then re-check tail with
 *                      alertable still set; the client's receive_wait waits with a timeout too).
 *                      The timeout is Promela's `timeout`, which fires only when nothing else can
 *                      move: a lost wake-up costs at most one re-check interval and no longer
 *                      hangs, but it is still a lost wake-up.
 *   NO_LOST_CHECK      leave the `monitor` out (to check only for hangs, with TIMED_SLEEP).
 */

#ifndef NPROD
#define NPROD 2
#endif
#ifndef ITEMS
#define ITEMS 2            /* publishes per producer */
#endif
#define TOTAL (NPROD * ITEMS)
#define NT (NPROD + 1)     /* thread 0: consumer; 1..NPROD: producers */
#define SB 2               /* store-buffer depth per thread */

#define TAIL 0
#define ALERT 1
#define DATA 1             /* slot k (1..TOTAL) is mem[DATA + k] */
#define WRITTEN 1          /* what a producer writes into its slot */
#define NONE 255           /* no slot word read ahead */

byte mem[DATA + TOTAL + 1]; /* shared: tail, alertable, one word per slot */
byte sb_addr[NT * SB];
byte sb_val[NT * SB];
bool sb_rel[NT * SB];      /* the buffered store is a release store */
byte sb_n[NT];

bool ev;                   /* the ring's event (auto reset, as the client creates it) */
bool locked;               /* the producers' lock */
byte ptail;                /* last tail a producer stored (logical, under the lock) */
byte ccur;                 /* the consumer's cursor */
bool asleep;               /* the consumer is blocked on the event */
byte busy;                 /* producers between their tail store and their signal decision */

/* Entry 1 of thread th's buffer takes the place of entry 0 (which was just committed). */
inline shift_down(th) {
  sb_addr[th * SB] = sb_addr[th * SB + 1];
  sb_val[th * SB] = sb_val[th * SB + 1];
  sb_rel[th * SB] = sb_rel[th * SB + 1];
  sb_addr[th * SB + 1] = 0;
  sb_val[th * SB + 1] = 0;
  sb_rel[th * SB + 1] = 0;
  sb_n[th]--
}

/* Oldest buffered store of thread th reaches memory. */
inline commit_one(th) {
  mem[sb_addr[th * SB]] = sb_val[th * SB];
  shift_down(th)
}

/* ARM64: the newer of two buffered stores reaches memory first (different addresses, not a
   release store). */
inline commit_second(th) {
  mem[sb_addr[th * SB + 1]] = sb_val[th * SB + 1];
  sb_addr[th * SB + 1] = 0;
  sb_val[th * SB + 1] = 0;
  sb_rel[th * SB + 1] = 0;
  sb_n[th]--
}

#ifdef TSO
#define CAN_PASS(th) false
#else
#define CAN_PASS(th) (sb_n[th] == 2 && sb_addr[th * SB] != sb_addr[th * SB + 1] && !sb_rel[th * SB + 1])
#endif

inline fence(th) {
  d_step {
    do
    :: sb_n[th] > 0 -> commit_one(th)
    :: else -> break
    od
  }
}

inline store_ord(th, ad, va, rel) {
  d_step {
    if
    :: sb_n[th] == SB -> commit_one(th)
    :: else -> skip
    fi;
    sb_addr[th * SB + sb_n[th]] = ad;
    sb_val[th * SB + sb_n[th]] = va;
    sb_rel[th * SB + sb_n[th]] = rel;
    sb_n[th]++
  }
}

#define store(th, ad, va) store_ord(th, ad, va, 0)
#define store_release(th, ad, va) store_ord(th, ad, va, 1)

/* Load with store forwarding from the thread's own buffer (newest entry wins). */
inline load(th, ad, rv) {
  d_step {
    rv = mem[ad];
    if
    :: sb_n[th] > 0 && sb_addr[th * SB] == ad -> rv = sb_val[th * SB]
    :: else -> skip
    fi;
    if
    :: sb_n[th] > 1 && sb_addr[th * SB + 1] == ad -> rv = sb_val[th * SB + 1]
    :: else -> skip
    fi
  }
}

active proctype drain() {
end:
  do
  :: d_step { sb_n[0] > 0 -> commit_one(0) }
  :: d_step { CAN_PASS(0) -> commit_second(0) }
  :: d_step { sb_n[1] > 0 -> commit_one(1) }
  :: d_step { CAN_PASS(1) -> commit_second(1) }
#if NT > 2
  :: d_step { sb_n[2] > 0 -> commit_one(2) }
  :: d_step { CAN_PASS(2) -> commit_second(2) }
#endif
#if NT > 3
  :: d_step { sb_n[3] > 0 -> commit_one(3) }
  :: d_step { CAN_PASS(3) -> commit_second(3) }
#endif
  od
}

/* The consumer takes every slot up to tail t, reading each after its (acquire) load of t; `early`
   is the first slot's word if it was read before that load (NO_ACQUIRE), else NONE. */
inline consume(t, early) {
  k = ccur + 1;
  do
  :: k > t -> break
  :: else ->
    if
    :: k == ccur + 1 && early != NONE -> v = early
    :: else -> load(0, DATA + k, v)
    fi;
    assert(v == WRITTEN);                /* the slot was written before its tail was seen */
    k++
  od;
  ccur = t
}

active proctype consumer() {
  byte t, k, v, early;
  do
  :: ccur == TOTAL -> break
  :: else ->
#ifdef NO_ACQUIRE
    /* A relaxed tail load: the read of the next slot may be performed before it. */
    if
    :: ccur < TOTAL -> load(0, DATA + ccur + 1, early)
    :: else -> early = NONE
    fi;
#else
    early = NONE;
#endif
    load(0, TAIL, t);
    if
    :: t != ccur -> consume(t, early)
    :: else ->
      early = NONE;
#ifdef V1_SEND
      /* v1 Send ring: wait on the event (the driver sets it after every publish). */
      fence(0);
      asleep = 1;
#ifdef TIMED_SLEEP
      if
      :: d_step { ev -> ev = 0; asleep = 0 }
      :: timeout -> asleep = 0
      fi
#else
      d_step { ev -> ev = 0; asleep = 0 }
#endif
#else
      /* Ring::prepare_to_sleep */
      store(0, ALERT, 1);
#ifndef NO_CONSUMER_FENCE
      fence(0);
#endif
#ifndef NO_TAIL_RECHECK
      load(0, TAIL, t);
#endif
      if
      :: t != ccur ->
        store(0, ALERT, 0);                /* SleepCheck::Work: relaxed clear */
        consume(t, early)
      :: else ->                           /* SleepCheck::Sleep: wait, then clear alertable */
        fence(0);                          /* entering the wait is a full fence */
        asleep = 1;
#ifdef TIMED_SLEEP
        /* Session::sleep_bounded: wait with a timeout; on timeout re-check tail (alertable
           stays set) and either consume or sleep again. */
        do
        :: d_step { ev -> ev = 0; asleep = 0 };
          store(0, ALERT, 0);              /* relaxed clear */
          break
        :: timeout ->
          asleep = 0;
          load(0, TAIL, t);
          if
          :: t != ccur -> store(0, ALERT, 0); consume(t, early); break
          :: else -> asleep = 1
          fi
        od
#else
        d_step { ev -> ev = 0; asleep = 0 };
        store(0, ALERT, 0)                 /* relaxed clear */
#endif
      fi
#endif
    fi
  od
}

proctype producer(byte id) {
  byte n, a, slot;
  do
  :: n == ITEMS -> break
  :: else ->
#ifdef TSO
    fence(id);                             /* x86: the lock's locked instruction */
#endif
    d_step { !locked -> locked = 1 };      /* ARM64: an acquire, not a fence */
    d_step { ptail++; slot = ptail; busy++ };
    store(id, DATA + slot, WRITTEN);       /* the slot's contents */
    /* Ring::publish_tail */
#ifdef NO_RELEASE
    store(id, TAIL, slot);
#else
    store_release(id, TAIL, slot);
#endif
#ifndef NO_PRODUCER_FENCE
    fence(id);
#endif
    load(id, ALERT, a);
    fence(id);                             /* the lock's release: older stores visible first */
    locked = 0;
#if defined(V1_SEND) && !defined(V1_SIGNAL_IF_ALERTABLE)
    d_step { ev = 1; busy-- };            /* v1 Send ring: signal every publish */
#else
    if
    :: a != 0 -> d_step { ev = 1; busy-- }
    :: else -> busy--                      /* decided not to signal */
    fi;
#endif
    n++
  od
}

#ifndef NO_LOST_CHECK
active proctype monitor() {
end:
  atomic { (asleep && !ev && busy == 0 && ptail != ccur) -> assert(false) }
}
#endif

init {
  atomic {
    run producer(1);
#if NPROD > 1
    run producer(2);
#endif
#if NPROD > 2
    run producer(3);
#endif
  }
}
