/*
 * Teardown racing in-flight work: senders inside the Send ring, a consumer round in progress,
 * packets still with the stack, and a second teardown trigger at the same time.
 *
 * Mirrors driver/src/engine/session.rs:
 *   - Rundown (the Send gate): enter = one compare-exchange that fails once closing is set;
 *     exit = fetch_sub, the last thread out after closing sets `drained`;
 *     close_and_wait = fetch_or(closing), then wait on `drained` until the count is zero;
 *   - Session::teardown: state RUNNING -> CLOSING by compare-exchange (a later caller waits on
 *     `closed` until the first has finished); close the Send gate and wait; set `stop`; join
 *     the consumer; wait_all_returned (clear `returned`, then check `indicated` under the
 *     in-flight lock, then wait); unmap and unlock both rings; CLOSED; set `closed`;
 * and driver/src/engine/receive.rs (Session::consume: stop checked at the top of each round;
 * the round reads the ring, records and indicates; complete_indications sets `returned` when
 * nothing is left with the stack), driver/src/engine/send.rs (Adapter::transmit: the ring is
 * written only between gate enter and exit).
 *
 * Events are notification events (set stays set until cleared), as the engine creates them.
 *
 * Properties (assertions and end states):
 *   - nothing touches a ring after it is unmapped (senders, the consumer, the stack reading an
 *     indicated packet);
 *   - a teardown call that returns (first or second caller) finds both rings unmapped;
 *   - teardown never hangs (no invalid end state).
 *
 * Variants (-D):
 *   NONATOMIC_ENTER       the gate's enter checks `closing` and increments in two steps;
 *   NO_WAIT_RETURNED      teardown unmaps without waiting for the stack to return packets;
 *   CLEAR_AFTER_CHECK     wait_all_returned checks `indicated`, then clears `returned` and
 *                         waits (a return between the two is a lost wake-up);
 *   SECOND_RETURNS_EARLY  the second teardown caller returns at once instead of waiting for
 *                         the first to finish (a process-exit notification would return with the
 *                         pages still locked).
 */

#define CLOSING 128        /* Rundown bit (bit 31 in the code) */
#define RUNNING 0
#define TEARING 1
#define CLOSED 2
#define SEND_BATCHES 2
#define ROUNDS 2

byte gate;                 /* Rundown count | CLOSING */
bool drained;
byte state;                /* session state */
bool closed_ev;
bool stop_ev;
bool returned_ev;
bool locked;               /* the in-flight lock */
byte indicated;            /* packets with the stack */
byte held;                 /* packets the stack still has to read and return */
bool consumer_exited;
bool send_mapped = 1;
bool recv_mapped = 1;

inline lock() { d_step { !locked -> locked = 1 } }
inline unlock() { locked = 0 }

proctype sender() {
  byte b;
  bool ok;
  do
  :: b == SEND_BATCHES -> break
  :: else ->
#ifdef NONATOMIC_ENTER
    ok = ((gate & CLOSING) == 0);
    if
    :: ok -> gate++
    :: else -> skip
    fi;
#else
    d_step {
      if
      :: (gate & CLOSING) == 0 -> gate++; ok = 1
      :: else -> ok = 0
      fi
    };
#endif
    if
    :: ok ->
      assert(send_mapped);                 /* reserve, fill, publish */
      assert(send_mapped);
      d_step {
        gate--;
        if
        :: gate == CLOSING -> drained = 1
        :: else -> skip
        fi
      }
    :: else -> skip                        /* dropped: not running */
    fi;
    ok = 0;
    b++
  od
}

proctype consumer() {
  byte r;
  do
  :: stop_ev -> break
  :: !stop_ev && r < ROUNDS ->
    assert(recv_mapped);                   /* read and validate the round's slots */
    lock();
    indicated++;
    unlock();
    d_step { held++ };                     /* indicate */
    r++
  :: !stop_ev && r == ROUNDS ->
    stop_ev -> break                       /* sleep on the client's event or stop */
  od;
  consumer_exited = 1
}

/* The network stack: reads each indicated packet, then returns it (complete_indications). */
active proctype stack() {
  bool all;
end:
  do
  :: held > 0 ->
    assert(recv_mapped);
    held--;
    lock();
    indicated--;
    all = (indicated == 0);
    unlock();
    if
    :: all -> returned_ev = 1
    :: else -> skip
    fi;
    all = 0
  od
}

proctype teardown() {
  bool first;
  d_step {
    if
    :: state == RUNNING -> state = TEARING; first = 1
    :: else -> first = 0
    fi
  };
  if
  :: first ->
    /* 1. close the Send gate and wait for senders inside */
    gate = gate | CLOSING;
    do
    :: gate == CLOSING -> break
    :: else -> drained -> skip
    od;
    /* 3. stop and join the consumer */
    stop_ev = 1;
    consumer_exited;
#ifndef NO_WAIT_RETURNED
    /* 4. wait_all_returned */
    do
    ::
#ifdef CLEAR_AFTER_CHECK
      lock();
      if
      :: indicated == 0 -> unlock(); break
      :: else -> unlock()
      fi;
      returned_ev = 0;
#else
      returned_ev = 0;
      lock();
      if
      :: indicated == 0 -> unlock(); break
      :: else -> unlock()
      fi;
#endif
      returned_ev
    od;
#endif
    /* 6. unmap and unlock both rings */
    send_mapped = 0;
    recv_mapped = 0;
    state = CLOSED;
    closed_ev = 1
  :: else ->
#ifndef SECOND_RETURNS_EARLY
    do
    :: state == CLOSED -> break
    :: else -> closed_ev -> skip
    od;
#endif
    skip
  fi;
  /* the call returned: the pages are no longer locked */
  assert(!send_mapped && !recv_mapped)
}

init {
  atomic {
    run sender();
    run sender();
    run consumer();
    run teardown();
    run teardown()
  }
}
