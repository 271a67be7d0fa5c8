// The daemon's Prometheus metrics (`GET /metrics`), on prom-client with a registry of
// its own: process and Node metrics (CPU, memory, heap, GC, event-loop delay), build
// info, mode, the daemon view, per-group members and traffic, and histograms for what
// an incident asks — how long did detection and the flush take, how many flush rounds,
// how long do messages take to come back to their sender, how big and slow are state
// transfers, what are the links' round trips — plus retransmissions, fetches and
// refused frames. The driver (daemon.ts) feeds it the core's outputs and client
// requests; gauges are read from the status at each scrape.
//
// Label sets are bounded: reasons and results are fixed lists, peers are the members of
// the view, and groups are the first MAX_GROUP_LABELS seen (others add to group="_other").
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import type { CoreOutput } from '../src/core/types.js';
import type { chorus } from '../src/wire/gen/chorus.js';
import { VERSION } from './version.js';
import type { ViewChangeTimes } from './view-timeline.js';

export const CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** Groups with their own label value; the rest share group="_other" (bounded series). */
export const MAX_GROUP_LABELS = 64;
/** Messages whose round trip to their sender is timed: one in SAMPLE_EVERY, at most MAX_TIMED at once. */
const SAMPLE_EVERY = 8;
const MAX_TIMED = 4096;

const MODES = ['normal', 'flushing', 'joining', 'left'] as const;

/** What the gauges read at each scrape. */
export interface MetricsSnapshot {
  readonly mode: string;
  readonly viewId: number | undefined;
  readonly members: ReadonlyArray<{ readonly key: string; readonly rttMs: number | undefined; readonly self: boolean }>;
  readonly clients: number;
  readonly groups: ReadonlyArray<{ readonly name: string; readonly members: number }>;
  readonly bufferedBytes: number;
  /** Counters kept by the links and the DNS seeds, read at each scrape. */
  readonly authFailures: number;
  readonly tlsFailures: number;
  readonly dnsLookups: number;
  readonly dnsLookupFailures: number;
}

export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly groupLabels = new Set<string>();
  private sampleCount = 0;
  /** Timed multicasts: by `${client}\0${req}` until the reply names their id, then by id. */
  private readonly timedRequests = new Map<string, number>();
  private readonly timedIds = new Map<string, number>();
  /** State transfers to local joiners: by `${group}\0${joiner}`: start time and bytes so far. */
  private readonly transfers = new Map<string, { startMs: number; bytes: number }>();
  private flushRestarts = 0;
  /** The status read for the scrape under way. */
  private scraping: MetricsSnapshot | undefined;

  readonly framesOut: Counter;
  readonly framesIn: Counter;
  readonly clientEvents: Counter;
  readonly deliveries: Counter;
  readonly viewChanges: Counter;
  readonly expelled: Counter<'reason'>;
  readonly rejected: Counter<'reason'>;
  readonly peersDropped: Counter;
  private readonly fetches: Counter;
  private readonly retransmitted: Counter;
  private readonly groupSent: Counter<'group'>;
  private readonly groupDelivered: Counter<'group'>;
  private readonly viewChangeCauses: Counter<'cause'>;
  private readonly deliveryLatency: Histogram;
  private readonly detection: Histogram;
  private readonly flush: Histogram;
  private readonly flushRounds: Histogram;
  private readonly transferBytes: Histogram;
  private readonly transferSeconds: Histogram;

  constructor(
    readonly nowMs: () => number,
    private readonly snapshot: () => MetricsSnapshot,
  ) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, eventLoopMonitoringPrecision: 10 });
    const counter = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
      new Counter<L>({ name, help, labelNames, registers: [r] });
    const histogram = (name: string, help: string, buckets: number[]) => new Histogram({ name, help, buckets, registers: [r] });

    new Gauge({ name: 'chorus_build_info', help: 'Version of chorusd and of Node (value 1)', labelNames: ['version', 'node'], registers: [r] }).set(
      { version: VERSION, node: process.version },
      1,
    );
    this.framesOut = counter('chorus_peer_frames_sent_total', 'Frames sent to peer daemons');
    this.framesIn = counter('chorus_peer_frames_received_total', 'Frames received from peer daemons');
    this.clientEvents = counter('chorus_client_events_total', 'Events sent to clients (deliveries, views, replies)');
    this.deliveries = counter('chorus_deliveries_total', 'Messages delivered to local clients');
    this.viewChanges = counter('chorus_daemon_views_installed_total', 'Daemon views installed');
    this.expelled = counter('chorus_clients_expelled_total', 'Clients expelled by the daemon, by reason', ['reason']);
    this.rejected = counter('chorus_peer_frames_rejected_total', 'Peer frames dropped at the boundary as invalid (src/core/frame-guard.ts), by reason', ['reason']);
    this.peersDropped = counter('chorus_peers_disconnected_total', 'Peers disconnected for sending invalid frames');
    this.fetches = counter('chorus_fetches_sent_total', 'Fetch requests sent to members (entries or order lost with a broken link, or missing at a flush)');
    this.retransmitted = counter('chorus_entries_retransmitted_total', 'Entries sent again in answer to a fetch (relayed data)');
    this.groupSent = counter('chorus_group_messages_sent_total', 'Multicasts accepted from local clients, by group', ['group']);
    this.groupDelivered = counter('chorus_group_messages_delivered_total', 'Messages delivered to local clients, by group', ['group']);
    this.viewChangeCauses = counter('chorus_view_change_departures_total', 'Daemons that left the view, by cause', ['cause']);
    this.deliveryLatency = histogram(
      'chorus_delivery_latency_seconds',
      'Multicast to its delivery back at the sending client (sampled 1 in 8)',
      [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    );
    const viewBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];
    this.detection = histogram('chorus_view_change_detection_seconds', 'A departed member\u2019s silence (or its first suspicion) to the start of this daemon\u2019s flush', viewBuckets);
    this.flush = histogram('chorus_view_change_flush_seconds', 'The start of this daemon\u2019s flush to the new daemon view installed', viewBuckets);
    this.flushRounds = histogram('chorus_view_change_flush_rounds', 'Flush rounds per daemon view change (1 + restarts)', [1, 2, 3, 4, 6, 10]);
    this.transferBytes = histogram('chorus_state_transfer_bytes', 'State installed by local joiners', [1024, 16384, 262144, 1048576, 8388608, 67108864, 536870912]);
    this.transferSeconds = histogram('chorus_state_transfer_seconds', 'Start of a local joiner\u2019s transfer to its install', [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60]);

    // The status is read once per scrape (see render()).
    const read = () => (this.scraping ??= this.snapshot());
    const gauge = <L extends string = never>(name: string, help: string, labelNames: readonly L[], collect: (g: Gauge<L>, s: MetricsSnapshot) => void) =>
      new Gauge<L>({
        name,
        help,
        labelNames,
        registers: [r],
        collect() {
          collect(this, read());
        },
      });
    gauge('chorus_mode', 'The daemon\u2019s mode (1 for the current one): normal and flushing are in the primary component', ['mode'], (g, s) => {
      for (const m of MODES) g.set({ mode: m }, s.mode === m ? 1 : 0);
    });
    gauge('chorus_primary', '1 while the daemon is in the primary component', [], (g, s) => g.set(s.mode === 'normal' || s.mode === 'flushing' ? 1 : 0));
    gauge('chorus_daemon_view_id', 'Id of the installed daemon view', [], (g, s) => g.set(s.viewId ?? 0));
    gauge('chorus_daemon_view_members', 'Daemons in the installed view', [], (g, s) => g.set(s.members.length));
    gauge('chorus_clients', 'Connected clients', [], (g, s) => g.set(s.clients));
    gauge('chorus_groups', 'Process groups known to the cluster', [], (g, s) => g.set(s.groups.length));
    gauge('chorus_buffered_bytes', 'Bytes of entries held until stable (the receive log)', [], (g, s) => g.set(s.bufferedBytes));
    gauge('chorus_group_members', 'Members of each group', ['group'], (g, s) => {
      g.reset();
      for (const x of s.groups) g.inc({ group: this.groupLabel(x.name) }, x.members);
    });
    gauge('chorus_link_rtt_seconds', 'Round trip to each other member of the view (heartbeat echo)', ['peer'], (g, s) => {
      g.reset();
      for (const m of s.members) if (!m.self && m.rttMs !== undefined) g.set({ peer: m.key }, m.rttMs / 1000);
    });

    // Counters kept elsewhere (the links, the DNS seeds): set from their totals at each scrape.
    const external = <L extends string>(name: string, help: string, labelName: L, values: (s: MetricsSnapshot) => Record<string, number>) =>
      new Counter<L>({
        name,
        help,
        labelNames: [labelName],
        registers: [r],
        collect() {
          this.reset();
          for (const [label, value] of Object.entries(values(read()))) this.inc({ [labelName]: label } as Partial<Record<L, string>>, value);
        },
      });
    external(
      'chorus_peer_auth_failures_total',
      'Peer connections refused for failed authentication: kind "secret" (bad or missing proof, bad frame MAC) or "tls" (TLS handshake, certificate)',
      'kind',
      (s) => ({ secret: s.authFailures, tls: s.tlsFailures }),
    );
    external(
      'chorus_dns_seed_lookups_total',
      'Resolutions of dns: and dns+srv: seeds, by result: "ok" (some address) or "failed" (NXDOMAIN, no records, timeout)',
      'result',
      (s) => ({ ok: s.dnsLookups - s.dnsLookupFailures, failed: s.dnsLookupFailures }),
    );

    // Series that exist from the start, so that dashboards' rate() has them.
    this.expelled.inc({ reason: 'slow-consumer' }, 0);
    for (const cause of ['leave', 'crash', 'partition', 'expelled']) this.viewChangeCauses.inc({ cause }, 0);
  }

  /** Prometheus text. */
  async render(): Promise<string> {
    try {
      return await this.registry.metrics();
    } finally {
      this.scraping = undefined;
    }
  }

  /** A bounded label value for a group. */
  private groupLabel(group: string): string {
    if (this.groupLabels.has(group)) return group;
    if (this.groupLabels.size < MAX_GROUP_LABELS) {
      this.groupLabels.add(group);
      return group;
    }
    return '_other';
  }

  /** A request from a local client (before the core sees it). */
  clientRequest(client: string, request: chorus.IClientRequest): void {
    const m = request.multicast;
    if (m) {
      this.groupSent.inc({ group: this.groupLabel(m.group ?? '') });
      if (++this.sampleCount % SAMPLE_EVERY === 0 && this.timedRequests.size < MAX_TIMED) this.timedRequests.set(`${client}\u0000${request.req ?? 0}`, this.nowMs());
      return;
    }
    const ack = request.stateAck;
    if (ack?.installed) {
      const key = `${ack.group ?? ''}\u0000${client}`;
      const t = this.transfers.get(key);
      if (t !== undefined) {
        this.transfers.delete(key);
        this.transferBytes.observe(t.bytes);
        this.transferSeconds.observe((this.nowMs() - t.startMs) / 1000);
      }
    }
  }

  /** A local client is gone: forget what was timed for it. */
  clientGone(client: string): void {
    if (this.timedRequests.size > 0) for (const k of this.timedRequests.keys()) if (k.startsWith(`${client}\u0000`)) this.timedRequests.delete(k);
    for (const k of this.transfers.keys()) if (k.endsWith(`\u0000${client}`)) this.transfers.delete(k);
  }

  /** One output of the core, as the driver carries it out. */
  output(out: CoreOutput): void {
    this.framesOut.inc(out.sends.length);
    for (const s of out.sends) {
      if (s.frame.fetch) this.fetches.inc();
      else if (s.frame.data?.relayed) this.retransmitted.inc(s.frame.data.entries?.length ?? 0);
    }
    this.clientEvents.inc(out.clientEvents.length);
    for (const ce of out.clientEvents) {
      const e = ce.event;
      if (e === undefined) continue;
      if (e.delivery) {
        this.deliveries.inc();
        this.groupDelivered.inc({ group: this.groupLabel(e.delivery.group ?? '') });
        if (this.timedIds.size > 0 && e.delivery.sender === ce.client) {
          const t0 = this.timedIds.get(e.delivery.id ?? '');
          if (t0 !== undefined) {
            this.timedIds.delete(e.delivery.id ?? '');
            this.deliveryLatency.observe((this.nowMs() - t0) / 1000);
          }
        }
      } else if (e.reply && this.timedRequests.size > 0) {
        const key = `${ce.client}\u0000${e.reply.req ?? 0}`;
        const t0 = this.timedRequests.get(key);
        if (t0 !== undefined) {
          this.timedRequests.delete(key);
          if ((e.reply.messageId ?? '') !== '' && this.timedIds.size < MAX_TIMED) this.timedIds.set(e.reply.messageId!, t0);
        }
      } else if (e.state) this.stateEvent(ce.client, e.state);
    }
    for (const t of out.traces) {
      if (t.type === 'flush-restart') this.flushRestarts++;
      else if (t.type === 'daemon-view') this.viewChanges.inc();
    }
  }

  private stateEvent(client: string, st: chorus.IStateTransfer): void {
    const key = `${st.group ?? ''}\u0000${client}`;
    const kind = st.kind ?? 0;
    // BEGIN (0) starts or restarts the clock; CHUNK (1) adds its bytes.
    if (kind === 0) this.transfers.set(key, { startMs: this.transfers.get(key)?.startMs ?? this.nowMs(), bytes: 0 });
    else if (kind === 1) {
      const t = this.transfers.get(key);
      if (t !== undefined) t.bytes += st.data?.length ?? 0;
    }
  }

  /** A daemon view change completed here (view-timeline.ts). */
  viewChanged(t: ViewChangeTimes): void {
    if (t.detectionMs !== undefined) this.detection.observe(t.detectionMs / 1000);
    if (t.flushMs !== undefined) this.flush.observe(t.flushMs / 1000);
    this.flushRounds.observe(1 + this.flushRestarts);
    this.flushRestarts = 0;
    for (const cause of t.causes) if (cause !== 'join') this.viewChangeCauses.inc({ cause });
  }
}
