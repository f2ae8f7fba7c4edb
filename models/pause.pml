/*
 * Pause against a consumer round: the `in_round` / `paused` store-fence-load pair.
 *
 * Mirrors driver/src/engine/receive.rs (Session::consume: store in_round = true, load paused,
 * indicate only if not paused; ReceiveState::end_round: store in_round = false, load paused, set
 * round_done if paused) and driver/src/engine/session.rs / receive.rs (Adapter::pause: store
 * paused = true, then quiesce_receive -> wait_round_done: clear round_done, load in_round,
 * return if false, else wait on round_done and repeat). All four accesses are SeqCst atomics: on
 * x86 a SeqCst store is a locked exchange, a full fence; on ARM64 it is `stlr` and a SeqCst load
 * `ldar`, which ARMv8 never lets pass an earlier `stlr` (the pair is ordered like a store, full
 * fence, load). The other reorderings ARM64 allows do not matter here: each thread stores one
 * flag and loads the other's, and nothing is published through them.
 *
 * Memory model as in handshake.pml: per-thread FIFO store buffers, loads forward from the own
 * buffer, a full fence drains it; event operations are full fences.
 *
 * Properties: once pause() has returned, the consumer never indicates (until a restart, not
 * modelled); pause() never hangs (no invalid end state).
 *
 * Variant (-D):
 *   RELEASE_ACQUIRE  the stores are Release and the loads Acquire (no fence): the consumer can
 *                    miss `paused` while the pauser misses `in_round`.
 */

#define ROUNDS 2
#define SB 2
#define NT 2               /* thread 0: consumer; thread 1: pauser */
#define IN_ROUND 0
#define PAUSED 1

byte mem[2];
byte sb_addr[NT * SB];
byte sb_val[NT * SB];
byte sb_n[NT];

bool round_done;           /* notification event */
bool indicating;           /* the consumer is handing packets to the stack */
bool pause_returned;

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

#ifdef RELEASE_ACQUIRE
#define SEQCST_FENCE(th) skip
#else
#define SEQCST_FENCE(th) fence(th)
#endif

active proctype drain() {
end:
  do
  :: d_step { sb_n[0] > 0 -> commit_one(0) }
  :: d_step { sb_n[1] > 0 -> commit_one(1) }
  od
}

active proctype consumer() {
  byte r, p;
  do
  :: r == ROUNDS -> break
  :: else ->
    store(0, IN_ROUND, 1);
    SEQCST_FENCE(0);
    load(0, PAUSED, p);
    if
    :: p == 0 ->
      indicating = 1;              /* consume_round: indicate the batch */
      indicating = 0
    :: else -> skip                /* paused: indicate nothing */
    fi;
    /* end_round */
    store(0, IN_ROUND, 0);
    SEQCST_FENCE(0);
    load(0, PAUSED, p);
    if
    :: p != 0 -> fence(0); round_done = 1
    :: else -> skip
    fi;
    r++
  od
}

active proctype pauser() {
  byte ir;
  store(1, PAUSED, 1);
  SEQCST_FENCE(1);
  do
  ::
    fence(1);
    round_done = 0;
    load(1, IN_ROUND, ir);
    if
    :: ir == 0 -> break
    :: else -> round_done
    fi
  od;
  pause_returned = 1
}

active proctype monitor() {
end:
  atomic { (pause_returned && indicating) -> assert(false) }
}
