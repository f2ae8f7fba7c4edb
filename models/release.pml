/*
 * In-order head release on the Receive ring with packets returned out of order.
 *
 * Mirrors driver/src/engine/receive.rs:
 *   - Session::consume_round: under the in-flight lock, record the round's slots (how many
 *     packets of each went to the stack), add them to `indicated`, release the leading slots
 *     that have nothing pending (release_leading), then indicate the packets;
 *   - Session::complete_indications (any thread, any order): under the same lock, decrement the
 *     slot's pending count, release_leading (pop every leading slot with nothing pending and
 *     store head past the last one) — the head store happens inside the lock;
 *   - the client's release of incoming packets (client/src/session.rs release_locked: mark the
 *     slot released, walk the leading released slots, store head, all under the incoming lock)
 *     has the same shape.
 *
 * Slots are numbered without wrapping (the order is what matters here); a slot carries 0..2
 * packets (0: an empty v2 slot or a dropped packet, released by the consumer itself; 2: a
 * RECEIVE_SPLIT slot). Two returner threads hand packets back in any order.
 *
 * Properties (assertions):
 *   - head never moves backwards;
 *   - head never passes a slot that still has a packet with the stack;
 *   - once everything is back, head covers every slot.
 *
 * Variant (-D):
 *   HEAD_AFTER_UNLOCK  the head computed under the lock is stored after the lock is dropped: a
 *                      slower completer can store an older head over a newer one.
 */

#define ROUNDS 2
#define PER_ROUND 2
#define NSLOTS (ROUNDS * PER_ROUND)   /* 4: the returners below name each slot */

byte head;                 /* shared: the Receive ring's head (in slots) */
bool locked;               /* the in-flight lock */
byte pending[NSLOTS];      /* packets of each slot still with the stack */
byte recorded;             /* slots recorded so far (records[base .. recorded)) */
byte base;                 /* first slot not yet released */
byte indicated;            /* packets with the stack */
byte with_stack[NSLOTS];   /* tokens the stack holds, per slot */
bool consumer_done;
byte finished;             /* returners that ended */

inline lock() { d_step { !locked -> locked = 1 } }
inline unlock() { locked = 0 }

/* release_leading: pop leading slots with nothing pending; the new head in `h` (255: none). */
inline release_leading(h) {
  h = 255;
  do
  :: base < recorded && pending[base] == 0 -> base++; h = base
  :: else -> break
  od
}

inline store_head(h) {
  d_step {
    assert(h >= head);                     /* never backwards */
    k = 0;
    do
    :: k < h -> assert(pending[k] == 0); k++
    :: else -> break
    od;
    k = 0;
    head = h
  }
}

active proctype consumer() {
  byte r, s, p, h, k;
  do
  :: r == ROUNDS -> break
  :: else ->
    lock();
    /* Packets per slot: chosen freely (0, 1 or 2). */
    s = 0;
    do
    :: s < PER_ROUND ->
      if
      :: p = 0
      :: p = 1
      :: p = 2
      fi;
      d_step { pending[recorded] = p; with_stack[recorded] = 0; recorded++; indicated = indicated + p; p = 0 };
      s++
    :: else -> break
    od;
    release_leading(h);
#ifdef HEAD_AFTER_UNLOCK
    unlock();
    if
    :: h != 255 -> store_head(h)
    :: else -> skip
    fi;
#else
    if
    :: h != 255 -> store_head(h)
    :: else -> skip
    fi;
    unlock();
#endif
    /* indicate: the round's packets go to the stack */
    d_step {
      s = recorded - PER_ROUND;
      do
      :: s < recorded -> with_stack[s] = pending[s]; s++
      :: else -> break
      od;
      s = 0; h = 0
    };
    r++
  od;
  consumer_done = 1
}

proctype returner() {
  byte s, h, k;
  do
  :: consumer_done && indicated == 0 -> break
  :: else ->
    /* the stack returns any packet it holds */
    if
    :: d_step { with_stack[0] > 0 -> with_stack[0]--; s = 0 }
    :: d_step { with_stack[1] > 0 -> with_stack[1]--; s = 1 }
    :: d_step { with_stack[2] > 0 -> with_stack[2]--; s = 2 }
    :: d_step { with_stack[3] > 0 -> with_stack[3]--; s = 3 }
    :: consumer_done && indicated == 0 -> break
    fi;
    lock();
    d_step { pending[s]--; indicated-- };
    release_leading(h);
#ifdef HEAD_AFTER_UNLOCK
    unlock();
    if
    :: h != 255 -> store_head(h)
    :: else -> skip
    fi;
#else
    if
    :: h != 255 -> store_head(h)
    :: else -> skip
    fi;
    unlock();
#endif
    s = 0; h = 0
  od;
  finished++
}

init {
  atomic {
    run returner();
    run returner()
  };
  (consumer_done && finished == 2);
  assert(indicated == 0 && base == NSLOTS && head == NSLOTS)
}
