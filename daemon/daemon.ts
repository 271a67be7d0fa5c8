// chorusd's driver: real IO around the pure core. Every input (peer frame, client
// request, link event, timer) becomes one `DaemonNode.step()`, and the driver carries
// out the output in the order CoreOutput documents: addresses, peer frames, client
// events, client closes, then the next wake-up. Nothing protocol-related happens here.
// An input raised while an output is being carried out (the gateway expelling a slow
// consumer from inside send()) is stepped right after that output, never inside it.
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import { DaemonNode } from '../src/core/daemon-node.js';
import { ORDER_NAMES, peerKey, type CoreInput, type CoreOutput, type TraceEvent } from '../src/core/types.js';
import { RACY_REASONS, REJECT_REASONS, type RejectReason } from '../src/core/frame-guard.js';
import { InvariantError } from '../src/errors.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../src/wire/codec.js';
import { startAdminServer, type AdminServer, type Readiness } from './admin-server.js';
import { ClientGateway } from './client-gateway.js';
import { parseHostPort, parseSeed, type DaemonConfig, type DnsSeedSpec } from './config.js';
import { DnsSeeds, createLookups } from './dns-seeds.js';
import { bindPort } from './listen.js';
import type { Logger } from './logger.js';
import { DaemonMetrics } from './metrics.js';
import { PeerLinks } from './peer-links.js';
import { PeerRejections } from './peer-rejections.js';
import { LiveEvents } from './live-events.js';
import { ViewTimeline } from './view-timeline.js';
import { calibrateWallClock, wallClockMs } from './wall-clock.js';

export interface DaemonAddresses {
  /** Actual host:port of the client gateway (WebSocket). */
  readonly client: string;
  /** Actual host:port of the peer listener. */
  readonly listen: string;
  /** Actual host:port of the admin server. */
  readonly admin: string;
}

export interface DaemonOptions {
  readonly config: DaemonConfig;
  readonly logger: Logger;
  /** Append trace events (daemon and group views) as JSON lines to this file. */
  readonly eventLog?: string;
}

export class Daemon {
  readonly name: string;
  readonly incarnation: string;
  private readonly log: Logger;
  private readonly config: DaemonConfig;
  private readonly eventLog: string | undefined;
  private node!: DaemonNode;
  private peers!: PeerLinks;
  private gateway!: ClientGateway;
  private admin!: AdminServer;
  /** Resolves and dials the dns: and dns+srv: seeds (undefined: none configured). */
  private dnsSeeds: DnsSeeds | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAtMs = Number.POSITIVE_INFINITY;
  private lastTickMs = 0;
  private clientSeq = 0;
  private leaving: Promise<void> | undefined;
  private resolveLeft: (() => void) | undefined;
  /** Operators waiting for the answer of a force-primary (it comes in a later step). */
  private readonly forceWaiters: Array<(answer: { ok: boolean; message: string }) => void> = [];
  private closed = false;
  /** Why the daemon last stepped down (outside the primary); cleared when a view installs. */
  private steppedDown: string | undefined;
  /**
   * The core has started (every port is bound, then `node.start()`): until then inputs
   * wait in `deferred`, so a client or peer that is quick to connect finds the core started.
   */
  private started = false;
  /** An output is being carried out: new inputs wait in `deferred` (the core is not re-entrant). */
  private stepping = false;
  private readonly deferred: CoreInput[] = [];
  /** Daemon and group view changes with causes and durations (status, live page, watch). */
  readonly timeline = new ViewTimeline();
  private live: LiveEvents | undefined;
  private readonly startedAt = Date.now();
  /** Per group: the total order seq and when it was read, for the message rates of the status. */
  private readonly groupRates = new Map<string, { seq: number; atMs: number; perSecond: number }>();
  private readonly m = new DaemonMetrics(
    () => performance.now(),
    () => {
      const st = this.node.status();
      return {
        mode: st.mode,
        viewId: st.viewId,
        members: st.members.map((m) => ({ key: peerKey(m), rttMs: m.rttMs, self: m.name === st.name && m.incarnation === st.incarnation })),
        clients: st.clients,
        groups: st.groups.map((g) => ({ name: g.name, members: g.members.length })),
        bufferedBytes: st.bufferedBytes,
        authFailures: this.peers?.stats.authFailures ?? 0,
        tlsFailures: this.peers?.stats.tlsFailures ?? 0,
        dnsLookups: this.dnsSeeds?.stats.lookups ?? 0,
        dnsLookupFailures: this.dnsSeeds?.stats.lookupFailures ?? 0,
      };
    },
  );
  /** Per peer: invalid frames lately (rate-limited warnings, disconnection). */
  private readonly rejections = new PeerRejections();
  addresses!: DaemonAddresses;

  constructor(options: DaemonOptions) {
    this.config = options.config;
    this.name = options.config.name;
    // The incarnation tells this run of the daemon from earlier runs under the same name.
    this.incarnation = randomBytes(4).toString('hex');
    this.log = options.logger.child({ incarnation: this.incarnation });
    this.eventLog = options.eventLog;
    // Shown as 0 before the first expulsion, so a dashboard's rate() has a series.
    for (const reason of REJECT_REASONS) this.m.rejected.inc({ reason }, 0);
    this.timeline.onViewChange((t) => this.m.viewChanged(t));
  }

  /**
   * Binds the peer, client and admin ports, and only then starts the core (which founds a
   * cluster or joins one): a port in use fails the start with a ListenError before this
   * daemon was ever part of a view (issue 15), and the ports bound so far are closed.
   */
  async start(): Promise<void> {
    try {
      await this.bindAndStart();
    } catch (err) {
      await this.shutdown();
      throw err;
    }
  }

  private async bindAndStart(): Promise<void> {
    const cfg = this.config;
    // Event-log times are compared with other processes' (daemon/wall-clock.ts): anchor
    // the clock now rather than on the first event.
    if (this.eventLog !== undefined) calibrateWallClock();
    const self = { name: cfg.name, incarnation: this.incarnation };
    this.peers = new PeerLinks({
      cluster: cfg.cluster,
      self,
      listen: cfg.listen,
      ...(cfg.advertise !== undefined ? { advertise: cfg.advertise } : {}),
      maxFrameBytes: Math.max(DEFAULT_MAX_FRAME_BYTES, cfg.maxMessageBytes + 64 * 1024),
      secrets: cfg.secrets,
      ...(cfg.tls !== undefined ? { tls: cfg.tls } : {}),
      logger: this.log,
    });
    const listen = await bindPort('peer', cfg.listen, () => this.peers.listen());
    if (cfg.secrets.length === 0 && cfg.tls === undefined && !isLoopback(listen)) {
      this.log.warn(
        { listen },
        'peer port bound to a non-loopback address without --secret (or --tls-*): anyone who can reach it can join the cluster',
      );
    }
    this.node = new DaemonNode({
      self,
      advertise: this.peers.advertise,
      join: cfg.seeds.length > 0,
      // Bootstrap: with no primary to join, form one once this many fresh daemons meet
      // (default: the daemons the seeds name, plus this one; config.ts requires --expect
      // with a DNS seed, which names an unknown number of daemons).
      ...(cfg.seeds.length > 0 ? { expect: cfg.expect ?? cfg.seeds.length + 1 } : {}),
      maxMessageBytes: cfg.maxMessageBytes,
      maxBufferBytes: cfg.maxBufferBytes,
      heartbeatMs: cfg.heartbeatMs,
      suspectMs: cfg.suspectMs,
      traceSends: this.eventLog !== undefined,
      nowMs: performance.now(),
    });
    this.peers.on('frame', (peer, frame) => {
      this.m.framesIn.inc();
      this.step({ kind: 'peer-frame', from: peer, frame });
    });
    this.peers.on('peer-up', (peer, id, advertise) =>
      this.step({ kind: 'peer-up', peer, id: { name: id.name ?? '', incarnation: id.incarnation ?? '' }, advertise }),
    );
    this.peers.on('peer-down', (peer) => this.step({ kind: 'peer-down', peer }));

    this.gateway = new ClientGateway({
      listen: cfg.client,
      maxMessageBytes: cfg.maxMessageBytes,
      ...(cfg.token !== undefined ? { token: cfg.token } : {}),
      ...(cfg.tls !== undefined ? { tls: cfg.tls } : {}),
      ...(cfg.serveDir !== undefined ? { serveDir: cfg.serveDir } : {}),
      daemonName: cfg.name,
      makeClientId: (name: string) => `${name}@${cfg.name}.${this.incarnation}.${++this.clientSeq}`,
      logger: this.log,
      clientBufferBytes: cfg.clientBufferBytes,
      // The groups an expelled client is told it left: those the core's table lists it in
      // now, which are the groups whose view events it was sent. Runs only on expulsion.
      groupsOf: (client) => this.node.groups.sorted().filter((g) => g.members.some((m) => m.client === client)).map((g) => g.name),
    });
    this.gateway.on('connect', (client, name, protocol) => this.step({ kind: 'client-connect', client, name, protocol }));
    this.gateway.on('request', (client, request) => {
      this.m.clientRequest(client, request);
      this.step({ kind: 'client-request', client, request });
    });
    this.gateway.on('disconnect', (client, expelled) => {
      this.m.clientGone(client);
      if (expelled === undefined) {
        this.step({ kind: 'client-disconnect', client });
        return;
      }
      // The other members see cause 'expelled' for it in their next view.
      this.m.expelled.inc({ reason: expelled });
      this.step({ kind: 'client-disconnect', client, expelled: true });
    });

    const client = await bindPort('client', cfg.client, () => this.gateway.listen());
    this.admin = await bindPort('admin', cfg.admin, () =>
      startAdminServer({
        listen: cfg.admin,
        logger: this.log,
        status: () => this.status(),
        events: (req, res, headers) => this.liveEvents().subscribe(req, res, headers),
        ready: () => this.readiness(),
        metrics: () => this.m.render(),
        forcePrimary: () => this.forcePrimary(),
        ...(cfg.adminToken !== undefined ? { token: cfg.adminToken } : {}),
      }),
    );
    this.addresses = { client, listen, admin: this.admin.address };

    // Every port is bound: found or join now, then step what arrived meanwhile, in order.
    this.started = true;
    this.apply(this.node.start());
    const waiting = this.deferred.shift();
    if (waiting !== undefined) this.step(waiting);
    const dnsSeeds: DnsSeedSpec[] = [];
    for (const seed of cfg.seeds.map((s) => parseSeed(s))) {
      if (seed.kind !== 'address') {
        dnsSeeds.push(seed);
        continue;
      }
      if (seed.address === listen || seed.address === this.peers.advertise) continue;
      this.peers.dialSeed(seed.address);
    }
    if (dnsSeeds.length > 0) {
      this.dnsSeeds = new DnsSeeds({
        seeds: dnsSeeds,
        self: [listen, this.peers.advertise],
        dial: (address) => this.peers.probeSeed(address),
        lookups: createLookups(cfg.dnsServers),
        logger: this.log,
      });
      this.dnsSeeds.start();
    }
    this.log.info({ ...this.addresses, seeds: cfg.seeds, cluster: cfg.cluster }, 'daemon started');
  }

  /**
   * One input through the core, and its output carried out (`inspect` sees the output
   * first). An input that arrives while an output is carried out is queued and stepped
   * once that output is done, so outputs are carried out whole and in order.
   */
  private step(input: CoreInput, inspect?: (out: CoreOutput) => void): void {
    if (this.closed) return;
    if (this.stepping || !this.started) {
      this.deferred.push(input);
      return;
    }
    this.stepping = true;
    try {
      for (let next: CoreInput | undefined = input; next !== undefined && !this.closed; next = this.deferred.shift()) {
        // The core's only clock: let time pass first (at most once a millisecond, so a
        // burst of frames costs one tick), and carry out what that tick asks for too.
        const now = performance.now();
        if (next.kind !== 'tick' && now - this.lastTickMs >= 1) {
          this.lastTickMs = now;
          this.apply(this.node.step({ kind: 'tick', nowMs: now }));
        }
        const out = this.node.step(next);
        if (next === input) inspect?.(out);
        this.apply(out);
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.stepping = false;
    }
  }

  private apply(out: CoreOutput): void {
    // The event log's sends go before anything leaves: a client may get (and log) the
    // delivery of a message sent in this very output, here or through a peer, and the
    // checker orders a member's sends and deliveries by their times across processes.
    if (this.eventLog !== undefined) this.logSends(out.traces);
    if (out.identity !== undefined) this.peers.setIdentity(out.identity);
    for (const address of out.probes) this.peers.dialSeed(address);
    for (const a of out.addresses) this.peers.setAddress(a.peer, a.advertise);
    for (const s of out.sends) this.peers.send(s.to, s.frame);
    this.m.output(out);
    for (const ce of out.clientEvents) {
      if (ce.flow !== undefined) {
        this.gateway.setFlowPaused(ce.client, ce.flow === 'pause');
        continue;
      }
      this.gateway.send(ce.client, ce.event);
    }
    for (const c of out.closeClients) this.gateway.closeClient(c.client, 1001, c.reason);
    for (const t of out.traces) this.onTrace(t);
    this.arm(out.wakeAtMs);
    if (out.left) {
      this.resolveLeft?.();
    }
  }

  private onTrace(t: TraceEvent): void {
    if (t.type === 'force-primary') {
      for (const w of this.forceWaiters.splice(0)) w({ ok: t.ok, message: t.message });
    }
    const view = this.node.currentView;
    this.timeline.trace(t, view?.id);
    if (t.type === 'daemon-view') {
      this.steppedDown = undefined;
      this.log.info({ viewId: t.viewId, members: t.members }, 'daemon view installed');
      // A daemon restarted under the same name is a new incarnation: stop redialling the
      // old one (it is gone for good; its name now belongs to the new member).
      const nameOf = (k: string) => k.slice(0, k.lastIndexOf('#'));
      const current = new Map(t.members.map((k) => [nameOf(k), k]));
      for (const peer of this.peers.linkedPeers) {
        const now = current.get(nameOf(peer));
        if (now !== undefined && now !== peer) this.peers.disconnect(peer);
      }
    } else if (t.type === 'group-view') {
      this.log.info({ viewId: view?.id, group: t.group, groupViewId: t.viewId, members: t.members, joined: t.joined, left: t.left }, 'group view installed');
    } else if (t.type === 'view-change-start') {
      this.log.info({ viewId: view?.id, ballot: t.ballot, proposed: t.members }, 'view change started');
    } else if (t.type === 'left') {
      this.log.info({ viewId: view?.id }, 'left the daemon view');
    } else if (t.type === 'suspect') {
      this.log.warn({ viewId: view?.id, member: t.member }, 'member suspected');
    } else if (t.type === 'flush-restart') {
      this.log.warn({ viewId: view?.id, ballot: t.ballot }, 'flush restarted');
    } else if (t.type === 'state-stalled') {
      this.log.warn({ viewId: view?.id, group: t.group, joiner: t.joiner, provider: t.provider, transfer: t.transfer }, 'state transfer stalled: asking another member to provide');
    } else if (t.type === 'view-change-complete') {
      this.log.info({ viewId: view?.id, ballot: t.ballot, newViewId: t.viewId }, 'completing the view an earlier proposer got accepted');
    } else if (t.type === 'frame-rejected') {
      this.onRejected(t.from, t.reason);
    } else if (t.type === 'step-down') {
      this.steppedDown = t.reason;
      this.log.warn({ reason: t.reason, incarnation: this.node.self.incarnation }, 'outside the primary component: clients expelled, rejoining');
    }
    if (this.eventLog !== undefined && t.type === 'left' && t.viewId !== undefined) {
      const line = { type: 'daemon-left', t: wallClockMs(), daemon: this.node.selfKey, viewId: t.viewId };
      appendFileSync(this.eventLog, `${JSON.stringify(line)}\n`);
    }
    if (this.eventLog !== undefined && t.type === 'daemon-view') {
      // The checker's history format (test/checker/history.ts).
      const line = { type: 'daemon-view', t: wallClockMs(), daemon: this.node.selfKey, viewId: t.viewId, members: t.members, ...(t.forced ? { forced: true } : {}) };
      appendFileSync(this.eventLog, `${JSON.stringify(line)}\n`);
    }
  }

  /** The `send` traces of one output, to the event log (see apply). */
  private logSends(traces: readonly TraceEvent[]): void {
    let text = '';
    for (const t of traces) {
      if (t.type !== 'send') continue;
      const line = { type: 'send', t: wallClockMs(), member: t.client, group: t.group, id: t.id, order: ORDER_NAMES[t.order] ?? 'total', viewId: t.viewId };
      text += `${JSON.stringify(line)}\n`;
    }
    if (text !== '') appendFileSync(this.eventLog!, text);
  }

  /** A peer frame dropped as invalid: counted, logged (rate-limited), and a persistent sender disconnected. */
  private onRejected(peer: string, reason: RejectReason): void {
    this.m.rejected.inc({ reason });
    if (RACY_REASONS.has(reason)) return;
    const v = this.rejections.note(peer, performance.now());
    if (v.log) this.log.warn({ peer, reason, notLogged: v.notLogged, viewId: this.node.currentView?.id }, 'invalid peer frame dropped');
    if (v.disconnect) {
      this.log.warn({ peer, invalidFrames: v.count, windowMs: this.rejections.windowMs }, 'peer keeps sending invalid frames: disconnected');
      this.m.peersDropped.inc();
      this.peers.disconnect(peer);
    }
  }

  private arm(wakeAtMs: number | undefined): void {
    if (wakeAtMs === undefined || wakeAtMs >= this.timerAtMs) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAtMs = wakeAtMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAtMs = Number.POSITIVE_INFINITY;
      this.lastTickMs = performance.now();
      this.step({ kind: 'tick', nowMs: this.lastTickMs });
    }, Math.max(0, wakeAtMs - performance.now()));
  }

  /** A broken invariant is a bug: stop rather than run on in a bad state. */
  private fail(err: unknown): void {
    this.log.fatal({ err, viewId: this.node.currentView?.id }, err instanceof InvariantError ? 'broken invariant: stopping' : 'core failed: stopping');
    void this.shutdown().finally(() => process.exit(1));
  }

  /**
   * Operator: `chorus force-primary` (POST /force-primary). The core first asks the
   * daemons it reaches for the ids they saw, so the answer comes in a later step (at
   * most a suspect timeout later).
   */
  forcePrimary(): Promise<{ ok: boolean; message: string }> {
    return new Promise<{ ok: boolean; message: string }>((resolve) => {
      this.forceWaiters.push(resolve);
      this.step({ kind: 'force-primary' });
    }).then((answer) => {
      this.log.warn({ ...answer, viewId: this.node.currentView?.id }, 'force-primary requested by the operator');
      return answer;
    });
  }

  status(): unknown {
    const st = this.node.status();
    const self = st.members.find((m) => m.name === st.name && m.incarnation === st.incarnation);
    const now = performance.now();
    // Clients per daemon: the members of every group, by the daemon that hosts them.
    const clientsByDaemon = new Map<string, Set<string>>();
    for (const g of st.groups) {
      g.hosts.forEach((d, i) => {
        let set = clientsByDaemon.get(d);
        if (set === undefined) clientsByDaemon.set(d, (set = new Set()));
        set.add(g.members[i]!);
      });
    }
    return {
      daemon: {
        name: st.name,
        incarnation: st.incarnation,
        // normal or flushing: in the primary component; joining: outside it (starting, or stepped down).
        mode: st.mode,
        coordinator: self?.coordinator ?? false,
        addresses: this.addresses,
        cluster: this.config.cluster,
        uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
      },
      daemonView: { id: st.viewId, members: st.members.map((m) => ({ ...m, clients: clientsByDaemon.get(m.name)?.size ?? 0 })) },
      // This daemon's links to the other members: up, suspected, round trip, bytes waiting.
      links: st.members
        .filter((m) => m !== self)
        .map((m) => {
          const peer = peerKey(m);
          return { peer, up: this.peers.isUp(peer), suspected: m.suspected, rttMs: m.rttMs === undefined ? null : Math.round(m.rttMs * 100) / 100, queuedBytes: this.peers.bufferedBytes(peer) };
        }),
      groups: this.pruneRates(st.groups).map((g) => ({ name: g.name, viewId: g.viewId, members: g.members, seq: g.seq, messagesPerS: this.rateOf(g.name, g.seq, now) })),
      clients: st.clients,
      bufferedBytes: st.bufferedBytes,
      // Who is being admitted and on what evidence (a daemon stuck joining: see README).
      admission: st.admission,
      viewChanges: this.timeline.since(),
    };
  }

  /** Messages per second ordered in `group`, over the last second or more. */
  private rateOf(group: string, seq: number, nowMs: number): number {
    const r = this.groupRates.get(group);
    if (r === undefined || seq < r.seq) {
      this.groupRates.set(group, { seq, atMs: nowMs, perSecond: 0 });
      return 0;
    }
    if (nowMs - r.atMs >= 1000) {
      r.perSecond = Math.round(((seq - r.seq) * 1000) / (nowMs - r.atMs));
      r.seq = seq;
      r.atMs = nowMs;
    }
    return r.perSecond;
  }

  /** `groups`, after forgetting the rates of groups that are gone. */
  private pruneRates<G extends { name: string }>(groups: readonly G[]): readonly G[] {
    if (this.groupRates.size > groups.length) {
      const names = new Set(groups.map((g) => g.name));
      for (const name of this.groupRates.keys()) if (!names.has(name)) this.groupRates.delete(name);
    }
    return groups;
  }

  private liveEvents(): LiveEvents {
    this.live ??= new LiveEvents(() => this.status(), this.timeline);
    return this.live;
  }

  /**
   * GET /readyz: ready while this daemon is a member of the primary component — an
   * installed daemon view, in mode `normal` or `flushing` (a view change of that primary:
   * every member flushes at once, and taking them all out of service for it would empty
   * a load balancer's pool on each view change). Not ready while joining (before its
   * first view, or after stepping down from the primary) or leaving.
   */
  readiness(): Readiness {
    if (!this.started) return { ready: false, reason: 'not ready: starting' };
    if (this.leaving !== undefined || this.node.state === 'left') return { ready: false, reason: 'not ready: leaving the cluster' };
    const view = this.node.currentView;
    if (this.node.state === 'joining' || view === undefined) {
      if (this.steppedDown !== undefined) {
        return { ready: false, reason: `not ready: outside the primary component (${this.steppedDown}); rejoining` };
      }
      const cfg = this.config;
      const expect = cfg.expect ?? cfg.seeds.length + 1;
      return {
        ready: false,
        reason: `not ready: joining: no primary component reached yet through ${cfg.seeds.length} seed(s); with none running, ${expect} daemons (--expect) must hear each other to form the first`,
      };
    }
    const what = this.node.state === 'flushing' ? ', view change in progress' : '';
    return { ready: true, reason: `ready: in the primary component, daemon view ${view.id} of ${view.members.length} member(s)${what}` };
  }

  /**
   * Leave the daemon view on purpose (SIGTERM): the others see a view change at once.
   * Resolves when the view without this daemon is installed (or after `timeoutMs`).
   */
  leave(timeoutMs = 5000): Promise<void> {
    if (this.leaving !== undefined) return this.leaving;
    this.leaving = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.log.warn({ viewId: this.node.currentView?.id, timeoutMs }, 'leave did not complete in time; closing anyway');
        resolve();
      }, timeoutMs);
      this.resolveLeft = () => {
        clearTimeout(timer);
        resolve();
      };
      this.step({ kind: 'leave' });
    })
      .then(() => this.peers?.drain())
      .then(() => this.shutdown());
    return this.leaving;
  }

  /** Close every socket and timer at once, without leaving (tests use it to simulate a crash-free stop). */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.live?.close();
    this.dnsSeeds?.close();
    await Promise.allSettled([this.gateway?.close(), this.peers?.close(), this.admin?.close()]);
  }
}

/** A bound `host:port` that only this machine can reach (127.0.0.0/8, ::1, localhost). */
function isLoopback(address: string): boolean {
  const host = parseHostPort(address).host.toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\./.test(host) || /^::ffff:127\./.test(host);
}
