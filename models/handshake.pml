/*
 * The alertable handshake (docs/ring-protocol.md, section 8) under store buffering.
 *
 * Mirrors:
 *   consumer: ring-abi/src/shared.rs Ring::prepare_to_sleep (store alertable = 1, full fence,
 *             re-load tail), called by
 *               - the driver on the Receive ring: driver/src/engine/receive.rs
 *                 Session::wait_for_tail (then wait on the client's event, then clear alertable);
 *               - the client on a v2 Send ring: client/src/session.rs Session::receive_wait;
 *             on a v1 Send ring (-DV1_SEND) the client does not use alertable: it waits on the
 *             event after finding the ring empty (Session::receive_wait, RingVersion::V1).
 *   producer: ring-abi/src/shared.rs Ring::publish_tail (store tail, full fence, load alertable),
 *             called under a lock by
 *               - the client on the Receive ring: client/src/session.rs Session::finish_outgoing
 *                 (signals when alertable was seen, v1 and v2 alike);
 *               - the driver on the Send ring: driver/src/engine/send.rs, step 3 (publish under
 *                 the tail lock, signal after it: v1 always, v2 only when alertable was seen).
 *             NPROD producers publish concurrently (several senders in the driver).
 *
 * Memory model: every thread has a FIFO store buffer (x86-TSO: a load may be satisfied before an
 * earlier store of the same thread reaches memory; a thread sees its own buffered stores). A full
 * fence empties the thread's buffer. Lock acquire/release and event operations are full fences
 * (locked instructions / dispatcher lock in the kernel). Buffered stores reach memory at any
 * moment (process `drain`).
 *
 * Property (safety, checked in every state by `monitor`): never is the consumer asleep on the
 * event, the event not set, data published that it has not consumed, and no producer still
 * between its tail store and its signal decision: a lost wake-up. Also checked: no invalid end
 * state (a consumer blocked forever on the event).
 *
 * Variants (-D):
 *   NO_CONSUMER_FENCE  the fence between the alertable store and the tail re-load is removed
 *                      (the bug Wintun shipped);
 *   NO_PRODUCER_FENCE  the fence between the tail store and the alertable load is removed;
 *   NO_TAIL_RECHECK    the consumer sleeps after storing alertable without re-loading tail;
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

byte mem[2];               /* shared: tail, alertable */
byte sb_addr[NT * SB];
byte sb_val[NT * SB];
byte sb_n[NT];

bool ev;                   /* the ring's event (auto reset, as the client creates it) */
bool locked;               /* the producers' lock */
byte ptail;                /* last tail a producer stored (logical, under the lock) */
byte ccur;                 /* the consumer's cursor */
bool asleep;               /* the consumer is blocked on the event */
byte busy;                 /* producers between their tail store and their signal decision */

/* Oldest buffered store of thread t reaches memory. */
inline commit_one(th) {
  mem[sb_addr[th * SB]] = sb_val[th * SB];
  sb_addr[th * SB] = sb_addr[th * SB + 1];
  sb_val[th * SB] = sb_val[th * SB + 1];
  sb_addr[th * SB + 1] = 0;
  sb_val[th * SB + 1] = 0;
  sb_n[th]--
}

inline fence(th) {
  d_step {
    do
    :: sb_n[th] > 0 -> commit_one(th)
    :: else -> break
    od
  }
}

inline store(th, ad, va) {
  d_step {
    if
    :: sb_n[th] == SB -> commit_one(th)
    :: else -> skip
    fi;
    sb_addr[th * SB + sb_n[th]] = ad;
    sb_val[th * SB + sb_n[th]] = va;
    sb_n[th]++
  }
}

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
  :: d_step { sb_n[1] > 0 -> commit_one(1) }
#if NT > 2
  :: d_step { sb_n[2] > 0 -> commit_one(2) }
#endif
#if NT > 3
  :: d_step { sb_n[3] > 0 -> commit_one(3) }
#endif
  od
}

active proctype consumer() {
  byte t;
  do
  :: ccur == TOTAL -> break
  :: else ->
    load(0, TAIL, t);
    if
    :: t != ccur -> ccur = t             /* consume up to the tail read */
    :: else ->
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
        store(0, ALERT, 0);                /* SleepCheck::Work */
        ccur = t
      :: else ->                           /* SleepCheck::Sleep: wait, then clear alertable */
        fence(0);                          /* entering the wait is a full fence */
        asleep = 1;
#ifdef TIMED_SLEEP
        /* Session::sleep_bounded: wait with a timeout; on timeout re-check tail (alertable
           stays set) and either consume or sleep again. */
        do
        :: d_step { ev -> ev = 0; asleep = 0 };
          store(0, ALERT, 0);
          break
        :: timeout ->
          asleep = 0;
          load(0, TAIL, t);
          if
          :: t != ccur -> store(0, ALERT, 0); ccur = t; break
          :: else -> asleep = 1
          fi
        od
#else
        d_step { ev -> ev = 0; asleep = 0 };
        store(0, ALERT, 0)
#endif
      fi
#endif
    fi
  od
}

proctype producer(byte id) {
  byte k, a;
  do
  :: k == ITEMS -> break
  :: else ->
    fence(id);
    d_step { !locked -> locked = 1 };
    /* Ring::publish_tail */
    d_step { ptail++; busy++ };
    store(id, TAIL, ptail);
#ifndef NO_PRODUCER_FENCE
    fence(id);
#endif
    load(id, ALERT, a);
    fence(id);
    locked = 0;
#if defined(V1_SEND) && !defined(V1_SIGNAL_IF_ALERTABLE)
    d_step { ev = 1; busy-- };            /* v1 Send ring: signal every publish */
#else
    if
    :: a != 0 -> d_step { ev = 1; busy-- }
    :: else -> busy--                      /* decided not to signal */
    fi;
#endif
    k++
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
