/*
 * The write-space handshake (docs/ring-protocol.md, section 16) under store buffering: a client
 * whose Receive ring is full sets `space_waiting` and sleeps on the write-space event; the driver
 * sets the event when it frees space and sees the flag.
 *
 * Mirrors:
 *   producer (the client): client/src/session.rs Session::wait_for_send_space, through
 *             ring-abi/src/shared.rs Ring::prepare_to_wait_for_space (store space_waiting = 1,
 *             full fence, re-load head); it sleeps on the event only if the room is still short
 *             and, once it has room, clears the flag (the last waiter out) and publishes.
 *   releasers (the driver): driver/src/engine/receive.rs Session::release_leading, through
 *             Ring::release_head (release-store head, full fence, load space_waiting), under the
 *             in-flight lock, from the consumer thread or any thread returning packets (NREL of
 *             them); the event is set after the lock is dropped, when the flag was seen.
 *
 * The ring holds CAP packets; the client publishes ITEMS. Publishing (`tail`) and consuming are
 * abstracted to a shared counter `ptail` the releasers see at once: their handshake is the one
 * models/handshake.pml checks; this model is about `head` and `space_waiting`.
 *
 * Memory model: a FIFO store buffer per thread (x86-TSO), full fences empty it, lock release and
 * event operations are full fences, a lock acquire too unless -DARM64, buffered stores reach
 * memory at any moment (process `drain`). ARM64 adds to x86's store buffering the reordering of
 * stores to different addresses (models/handshake.pml has it): here each thread stores to one
 * shared word only (the client `space_waiting`, a releaser `head`), so it cannot occur, and what
 * is left is that an ARM64 lock acquire is only an acquire: -DARM64 drops its fence, and the
 * model still passes. The client's clear of `space_waiting` is a relaxed store with no fence, as
 * in the code (it needs none, for the reason handshake.pml gives for the `alertable` clear).
 * Not modelled: the slots themselves (the driver's reads of a slot before its `head` release,
 * the client's writes after its acquire load of `head`).
 *
 * Property (safety, checked in every state by `monitor`): never is the client asleep on the
 * event, the event not set, no releaser between its head store and its signal decision, and the
 * ring not full any more (space the client is not told about): a lost wake-up. Also checked: no
 * invalid end state (the client blocked forever once the driver released everything).
 *
 * Variants (-D):
 *   NO_PRODUCER_FENCE   the client's fence between its flag store and its head re-load removed;
 *   NO_CONSUMER_FENCE   the driver's fence between its head store and its flag load removed;
 *   FLAG_AFTER_RECHECK  the client re-reads head first and sets the flag after (then sleeps);
 *   NO_LOST_CHECK       leave the `monitor` out (to check only for hangs);
 *   ARM64               the lock acquire is not a fence (ARM64's `ldaxr`/`casa`).
 */

#ifndef NREL
#define NREL 2
#endif
#ifndef ITEMS
#define ITEMS 3            /* packets the client publishes */
#endif
#ifndef CAP
#define CAP 1              /* packets the ring holds */
#endif
#define NT (NREL + 1)      /* thread 0: the client; 1..NREL: releasers */
#define SB 2               /* store-buffer depth per thread */

#define HEAD 0
#define WAITING 1

byte mem[2];               /* shared: head, space_waiting */
byte sb_addr[NT * SB];
byte sb_val[NT * SB];
byte sb_n[NT];

bool ev;                   /* the write-space event (auto reset, as the client creates it) */
bool locked;               /* the driver's in-flight lock */
byte ptail;                /* packets the client published */
byte chead;                /* packets the driver released (logical, under the lock) */
bool asleep;               /* the client is blocked on the event */
byte busy;                 /* releasers between their head store and their signal decision */

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
  od
}

/* The client: publish ITEMS packets, waiting for space whenever the ring is full. */
active proctype client() {
  byte h;
  do
  :: ptail == ITEMS -> break
  :: else ->
    load(0, HEAD, h);
    if
    :: ptail - h < CAP -> ptail++                  /* room: allocate, fill, publish */
    :: else ->
      /* Session::wait_for_send_space */
      do
      ::
#ifdef FLAG_AFTER_RECHECK
        load(0, HEAD, h);
        store(0, WAITING, 1);
        fence(0);
#else
        /* Ring::prepare_to_wait_for_space */
        store(0, WAITING, 1);
#ifndef NO_PRODUCER_FENCE
        fence(0);
#endif
        load(0, HEAD, h);
#endif
        if
        :: ptail - h < CAP -> break                /* room: do not sleep */
        :: else ->
          fence(0);                                /* entering the wait is a full fence */
          asleep = 1;
          d_step { ev -> ev = 0; asleep = 0 }
        fi
      od;
      store(0, WAITING, 0)                         /* the last waiter out clears the flag */
    fi
  od
}

/* A driver thread releasing a consumed slot (the consumer, or a thread returning packets). */
proctype releaser(byte id) {
  bool w;
end:
  do
  :: d_step { !locked && chead < ptail -> locked = 1 };
#ifndef ARM64
    fence(id);                                     /* x86: the lock's locked instruction */
#endif
    /* Ring::release_head, under the in-flight lock */
    d_step { chead++; busy++ };
    store(id, HEAD, chead);
#ifndef NO_CONSUMER_FENCE
    fence(id);
#endif
    load(id, WAITING, w);
    fence(id);
    locked = 0;                                    /* the event is set after the lock */
    if
    :: w -> d_step { ev = 1; busy-- }
    :: else -> busy--
    fi
  od
}

#ifndef NO_LOST_CHECK
active proctype monitor() {
end:
  atomic { (asleep && !ev && busy == 0 && ptail - chead < CAP) -> assert(false) }
}
#endif

init {
  atomic {
    run releaser(1);
#if NREL > 1
    run releaser(2);
#endif
  }
}
