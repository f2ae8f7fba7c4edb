/*
 * In-order tail publication with concurrent senders on the Send ring.
 *
 * Mirrors driver/src/engine/send.rs, Session::transmit_inside_gate:
 *   1. reserve, under the tail lock: plan the reservation against the head last read (the
 *      known head, sender-private under the lock); only if it does not fit, load the client's
 *      head (inside the lock), remember it and plan again (ring-abi
 *      RingGeometry::plan_reservation: free = wrap(head - tail - unit)); move the private
 *      reserved tail, queue the reservation (a batch that does not fit reserves its longest
 *      prefix that fits: a reservation of fewer units, which the nondeterministic batch size
 *      already covers, so the model keeps "fits or dropped");
 *   2. fill, without the lock (senders copy in parallel);
 *   3. publish, under the lock: mark the reservation filled, pop every filled reservation at the
 *      front of the queue, store tail past the last one popped.
 * The consumer is the client: client/src/session.rs Session::receive (load tail, read slots up
 * to it) and release_locked (store head after reading, in order); receive_many/release_many
 * (one head store per batch) are the same consumer, only slower to release. The client's own
 * outgoing side (allocate: planned under the outgoing lock against a known head read once per
 * call and again when a slot does not fit; finish_outgoing: publish the leading run of sent
 * slots under it) has the same shape.
 *
 * Units: the ring holds CAP units; a reservation takes 1..MAXN units; positions wrap mod CAP.
 * Head and tail accesses are sequentially consistent here (the store-buffer effects of the
 * alertable handshake are in handshake.pml; tail is a release store and head an acquire load).
 *
 * Properties (assertions):
 *   - a reservation never covers a unit the consumer has not released (no overlap);
 *   - the consumer never reads a unit that is not filled (publication in reservation order).
 *
 * Variants (-D):
 *   HEAD_OUTSIDE_LOCK     the sender loads head before taking the lock and remembers it (a stale
 *                         head can make room that is not there once other senders moved the
 *                         tail around the ring: the Send-ring head race Wintun shipped);
 *   PUBLISH_OUT_OF_ORDER  a sender publishes its own reservation's end as the tail without
 *                         waiting for earlier reservations to be filled.
 */

#ifndef CAP
#define CAP 4
#endif
#ifndef MAXN
#define MAXN 3
#endif
#ifndef BATCHES
#define BATCHES 2          /* batches per sender */
#endif
#define NSEND 2
#define QMAX (NSEND * BATCHES)  /* reservations that can be queued at once */
#define WRAP(x) (((x) + CAP) % CAP)

byte head;                 /* shared: written by the consumer */
byte tail;                 /* shared: written by the senders */
bool locked;

/* Sender-private state of send.rs SendTail (under the lock). */
byte rtail;                /* reserved_tail */
byte known = 255;          /* known_head; 255: none read yet */
byte q_id[QMAX];           /* pending reservations, oldest first */
byte q_next[QMAX];
bool q_filled[QMAX];
byte q_len;
byte next_id;

/* Ghost state per unit. */
bool owned[CAP];           /* reserved and not yet released by the consumer */
bool filled[CAP];          /* written by its sender */

inline lock() { d_step { !locked -> locked = 1 } }
inline unlock() { locked = 0 }

proctype sender() {
  byte b, h, n, off, i, my_id, my_next, free, t, j;
  bool ok;
  do
  :: b == BATCHES -> break
  :: else ->
    /* Batch size. */
    if
    :: n = 1
    :: n = 2
#if MAXN > 2
    :: n = 3
#endif
    fi;
#ifdef HEAD_OUTSIDE_LOCK
    h = head;
#endif
    lock();
    /* The known head first; the shared head only when the batch does not fit it. */
    ok = (known != 255 && n <= WRAP(known - rtail - 1));
    if
    :: !ok ->
#ifndef HEAD_OUTSIDE_LOCK
      h = head;
#endif
      d_step { known = h; free = WRAP(h - rtail - 1); ok = (n <= free) }
    :: else -> skip
    fi;
    d_step {
      if
      :: ok ->
        off = rtail;
        i = 0;
        do
        :: i < n -> assert(!owned[WRAP(off + i)]); owned[WRAP(off + i)] = 1; i++
        :: else -> break
        od;
        rtail = WRAP(rtail + n);
        my_id = next_id;
        next_id++;
        my_next = rtail;
        q_id[q_len] = my_id;
        q_next[q_len] = my_next;
        q_filled[q_len] = 0;
        q_len++
      :: else -> skip                      /* dropped: ring full */
      fi;
      i = 0
    };
    unlock();
    if
    :: ok ->
      /* 2. fill, unit by unit, without the lock */
      i = 0;
      do
      :: i < n -> filled[WRAP(off + i)] = 1; i++
      :: else -> break
      od;
      /* 3. publish in reservation order */
      lock();
      d_step {
        j = 0;
        do
        :: j < q_len && q_id[j] == my_id -> q_filled[j] = 1; break
        :: j < q_len && q_id[j] != my_id -> j++
        :: else -> break
        od;
#ifdef PUBLISH_OUT_OF_ORDER
        tail = my_next;
#endif
        t = 255;
        do
        :: q_len > 0 && q_filled[0] ->
          t = q_next[0];
          j = 0;
          do
          :: j + 1 < q_len -> q_id[j] = q_id[j + 1]; q_next[j] = q_next[j + 1]; q_filled[j] = q_filled[j + 1]; j++
          :: else -> break
          od;
          q_id[j] = 0; q_next[j] = 0; q_filled[j] = 0;
          q_len--
        :: else -> break
        od;
#ifndef PUBLISH_OUT_OF_ORDER
        if
        :: t != 255 -> tail = t
        :: else -> skip
        fi;
#endif
        j = 0; t = 0
      };
      unlock()
    :: else -> skip
    fi;
    i = 0; off = 0; my_id = 0; my_next = 0; h = 0; free = 0; n = 0;
    b++
  od
}

/* The client: reads published units in order and releases each. */
active proctype consumer() {
  byte cursor, t;
end:
  do
  :: tail != cursor ->
    t = tail;
    do
    :: cursor != t ->
      assert(owned[cursor] && filled[cursor]);
      d_step { filled[cursor] = 0; owned[cursor] = 0; cursor = WRAP(cursor + 1) };
      head = cursor
    :: else -> break
    od;
    t = 0
  od
}

init {
  atomic {
    run sender();
    run sender()
  }
}
