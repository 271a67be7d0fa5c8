// The joiner's side of state transfer (guarantee 6, README: "The guarantees, in plain words"): a join that asked for
// state, from the daemon's join reply until install() has run and join() may resolve.
//
// The daemon sends, after the first view and the join reply, one of NONE (first member:
// nothing to install), WAIT (no member provides now), or BEGIN followed by the CHUNKs of
// the state taken at the start of view `transfer`. A provider that fails mid-way is
// replaced: a BEGIN with a higher `transfer` restarts the transfer (or a WAIT comes
// first, when no other member provides), and install() runs again on the new stream
// once the previous run has settled. FAILED ends the join: no member provided within
// the join's wait (ERR_NO_STATE_PROVIDER).
//
// While waiting, only the events from the latest view on are kept: a BEGIN can only
// come with a later view, whose state holds everything before it.
// Meanwhile every event of the group is buffered. When install() has finished for
// transfer w, join() resolves with view w as the first view: the views before it, and
// the messages delivered in them, are already part of the installed state and are
// dropped; the buffered events from view w on are then routed as usual. This is what
// keeps guarantee 6: state, then every message after the point it was taken at, and
// nothing twice.

import type { ChorusError } from '../src/errors.js';
import { chorus } from '../src/wire/gen/chorus.js';
import { errorCodeFromWire, plainBytes, viewFromWire } from './convert.js';
import { StateStream } from './state-stream.js';
import { StateTransferError } from './state-transfer-error.js';
import type { StateReader, View } from './types.js';

type DaemonEvent = chorus.DaemonEvent.$Properties;

/**
 * The joiner acknowledges at least every this many chunks it consumed (and always the
 * last, and whenever its reader waits). Half the provider's window of 8: the provider
 * gets credit before it runs dry, with one ack per few chunks on the wire.
 */
const ACK_EVERY_CHUNKS = 4;

export interface StateJoinHost {
  /** Sends a StateAck request to the daemon (no reply is expected). */
  ack(ack: chorus.StateAck.$Properties): void;
  /** The state is installed: the join completes with `view`; `replay` are the group's events that follow it. */
  complete(view: View, replay: DaemonEvent[]): void;
  /**
   * The join fails with `err`; install() is not running any more. `member`: the daemon
   * still counts this client in the group, so it must leave before join() rejects.
   */
  fail(err: ChorusError, member: boolean): void;
}

/** One transfer (one BEGIN) and the install() run reading it. */
interface Run {
  readonly transfer: number;
  readonly provider: string;
  readonly stream: StateStream;
  /** Resolves once this run's install() has settled and its outcome was handled. */
  settled: Promise<void>;
  /** Index the next chunk must have. */
  nextChunk: number;
  /** Highest chunk index the reader took, and the highest acknowledged (-1: none). */
  consumed: number;
  acked: number;
}

export class StateJoin {
  readonly #group: string;
  readonly #joiner: string;
  readonly #firstView: View;
  readonly #install: (state: StateReader) => void | Promise<void>;
  readonly #host: StateJoinHost;
  /** Every event of the group since the join reply, in order. */
  #buffered: DaemonEvent[] = [];
  #run: Run | undefined;
  /** The transfer whose install() finished (every chunk consumed), if any. */
  #installed: number | undefined;
  /** Completed or failed: later events are not ours to handle. */
  #closed = false;
  /** WAIT came and no BEGIN since: no member provides now. */
  #waiting = false;
  /**
   * The run a WAIT ended (its stream failed): no longer current, so its install()
   * throwing is not the join's failure, but the next BEGIN still waits for it to settle
   * and must be newer.
   */
  #retired: Run | undefined;

  constructor(group: string, joiner: string, firstView: View, install: (state: StateReader) => void | Promise<void>, host: StateJoinHost) {
    this.#group = group;
    this.#joiner = joiner;
    this.#firstView = firstView;
    this.#install = install;
    this.#host = host;
  }

  /** An event of this group that arrived after the join reply, in order. */
  event(event: DaemonEvent): void {
    if (this.#closed) return;
    if (event.state) {
      this.#onState(event.state);
      return;
    }
    if (event.signal && (event.signal.kind ?? 0) === chorus.GroupSignal.Kind.EXPELLED) {
      // The daemon removed this member (e.g. its daemon left the primary component).
      const reason = event.signal.reason || 'expelled';
      this.abort(new StateTransferError('ERR_STATE_ABORTED', `expelled from ${JSON.stringify(this.#group)} (${reason}) during state transfer`), false);
      return;
    }
    // A decoded payload is a view into the whole WebSocket frame it came in, which may
    // also carry 256 KiB state chunks: held for the whole install, such views would keep
    // every one of those frames alive (memory growing with transfer time). Copy it.
    if (event.delivery?.data && event.delivery.data.byteLength < event.delivery.data.buffer.byteLength) {
      // Uint8Array's slice copies; a Node Buffer's slice() would be another view.
      event.delivery.data = Uint8Array.prototype.slice.call(event.delivery.data);
    }
    // Waiting for a provider: the transfer, when one comes, starts at this view or a
    // later one, so what came before this view is in that state already.
    if (this.#waiting && event.view) this.#buffered = [];
    this.#buffered.push(event);
    if (event.view) this.#tryComplete();
  }

  /**
   * Ends the transfer without a state: the stream install() reads throws `err`, and
   * once install() has settled the join fails with `err`.
   */
  abort(err: ChorusError, member = false): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#buffered = [];
    // A run a WAIT retired may still be in install(): the join fails once it settled.
    const run = this.#run ?? this.#retired;
    run?.stream.fail(err);
    void (run?.settled ?? Promise.resolve()).then(() => this.#host.fail(err, member));
  }

  // ---------------------------------------------------------------- transfers

  #onState(state: chorus.StateTransfer.$Properties): void {
    const transfer = state.transfer ?? 0;
    switch (state.kind ?? chorus.StateTransfer.Kind.BEGIN) {
      case chorus.StateTransfer.Kind.NONE:
        // First member: nothing to install. After a BEGIN it would be nonsense: ignored.
        if (this.#run || this.#retired) return;
        this.#closed = true;
        this.#host.complete(this.#firstView, this.#takeBuffered(0, this.#firstView.id));
        return;
      case chorus.StateTransfer.Kind.FAILED: {
        const code = errorCodeFromWire(state.errorCode, 'ERR_NO_STATE_PROVIDER');
        const raw = state.errorCode || 'no error code';
        const why = state.errorMessage || 'no member can provide the state';
        this.abort(new StateTransferError(code, code === raw ? why : `${raw}: ${why}`), false);
        return;
      }
      case chorus.StateTransfer.Kind.WAIT: {
        // No member provides now: a transfer under way is over, the next comes with a later view.
        this.#waiting = true;
        this.#installed = undefined;
        if (this.#run) {
          this.#retired = this.#run;
          this.#run = undefined;
          this.#retired.stream.fail(new StateTransferError('ERR_STATE_RESTARTED', 'the provider went and no other member provides now: waiting for one'));
        }
        // Keep only the latest view on (the view this WAIT came with).
        let last = this.#buffered.length - 1;
        while (last > 0 && !this.#buffered[last]!.view) last--;
        if (last > 0) this.#buffered = this.#buffered.slice(last);
        return;
      }
      case chorus.StateTransfer.Kind.BEGIN:
        this.#waiting = false;
        this.#begin(transfer, state.provider ?? '');
        return;
      case chorus.StateTransfer.Kind.CHUNK: {
        const run = this.#run;
        // A chunk of a replaced transfer (still in flight), or a duplicate: not ours.
        if (!run || run.transfer !== transfer) return;
        const index = state.chunk ?? 0;
        // One past a gap is never passed on: install() would read a state with a hole.
        // The daemon hands chunks on in order (resending what a broken link lost); should
        // one be missing anyway, the transfer stalls and the daemon asks another member.
        if (index !== run.nextChunk) return;
        run.nextChunk = index + 1;
        run.stream.push({ index, data: plainBytes(state.data), last: state.last === true });
        return;
      }
    }
  }

  #begin(transfer: number, provider: string): void {
    const current = this.#run;
    const previous = current ?? this.#retired;
    // An older or repeated BEGIN: the transfer under way (or the one a WAIT ended) already supersedes it.
    if (previous && transfer <= previous.transfer) return;
    if (transfer < this.#firstView.id) {
      // A state taken before this member's first view would miss the messages between
      // that point and the first view: installing it would break guarantee 6.
      this.abort(
        new StateTransferError('ERR_STATE_ABORTED', `the daemon began transfer ${transfer}, older than the first view ${this.#firstView.id}`),
        true,
      );
      return;
    }
    const run: Run = {
      transfer,
      provider,
      stream: new StateStream({
        consumed: (index, last) => {
          run.consumed = index;
          if (last || index - run.acked >= ACK_EVERY_CHUNKS) this.#ack(run);
        },
        starved: () => {
          if (run.consumed > run.acked) this.#ack(run);
        },
      }),
      settled: Promise.resolve(),
      nextChunk: 0,
      consumed: -1,
      acked: -1,
    };
    this.#run = run;
    this.#retired = undefined;
    this.#installed = undefined;
    if (current) {
      current.stream.fail(
        new StateTransferError(
          'ERR_STATE_RESTARTED',
          `state transfer ${current.transfer} from ${current.provider} was replaced by transfer ${transfer} from ${provider}`,
        ),
      );
    }
    // One install() at a time: the next starts once the previous one has settled.
    run.settled = (previous?.settled ?? Promise.resolve()).then(() => this.#runInstall(run));
  }

  async #runInstall(run: Run): Promise<void> {
    // Replaced (or aborted) while the previous install() was still running.
    if (this.#closed || this.#run !== run) return;
    let failure: { err: unknown } | undefined;
    try {
      await this.#install(run.stream);
    } catch (err) {
      failure = { err };
    }
    // A restart or an abort decides what happens next, whatever this run's outcome.
    if (this.#closed || this.#run !== run) return;
    if (failure) {
      const why = failure.err instanceof Error ? failure.err.message : String(failure.err);
      this.#closed = true;
      this.#buffered = [];
      run.stream.fail(new StateTransferError('ERR_STATE_ABORTED', 'install() failed'));
      this.#host.fail(new StateTransferError('ERR_INSTALL_FAILED', `install() failed: ${why}`, { cause: failure.err }), true);
      return;
    }
    try {
      // The provider sends the rest only as it is consumed, and the daemon counts the
      // state as installed only after the last chunk: read what install() left.
      await run.stream.drain();
    } catch {
      return; // failed meanwhile: the restart or the abort takes over
    }
    if (this.#closed || this.#run !== run) return;
    this.#host.ack({ ...this.#ackBase(run), chunk: run.consumed, installed: true });
    this.#installed = run.transfer;
    this.#tryComplete();
  }

  #ack(run: Run): void {
    if (this.#closed || this.#run !== run) return;
    run.acked = run.consumed;
    this.#host.ack({ ...this.#ackBase(run), chunk: run.consumed });
  }

  #ackBase(run: Run): chorus.StateAck.$Properties {
    return { group: this.#group, joiner: this.#joiner, provider: run.provider, transfer: run.transfer };
  }

  // ---------------------------------------------------------------- completion

  /** Completes the join once transfer w is installed and view w has arrived. */
  #tryComplete(): void {
    const w = this.#installed;
    if (this.#closed || w === undefined) return;
    let view: View;
    let from: number;
    if (this.#firstView.id === w) {
      view = this.#firstView;
      from = 0;
    } else {
      const at = this.#buffered.findIndex((e) => e.view && (e.view.viewId ?? 0) === w);
      if (at < 0) return; // view w is still on its way
      view = viewFromWire(this.#buffered[at]!.view!);
      from = at + 1;
    }
    this.#closed = true;
    this.#host.complete(view, this.#takeBuffered(from, w));
  }

  /**
   * The buffered events from index `from` on, without what the state of transfer `w`
   * already holds: views up to w (w is the first view) and messages of earlier views.
   */
  #takeBuffered(from: number, w: number): DaemonEvent[] {
    const events = this.#buffered;
    this.#buffered = [];
    const kept: DaemonEvent[] = [];
    for (let i = from; i < events.length; i++) {
      const e = events[i]!;
      if (e.view && (e.view.viewId ?? 0) <= w) continue;
      if (e.delivery && (e.delivery.viewId ?? 0) < w) continue;
      kept.push(e);
    }
    return kept;
  }
}
