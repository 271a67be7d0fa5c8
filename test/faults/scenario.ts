// What every fault scenario does around its faults: a cluster, members on daemons with
// traffic in all four orders, and at the end — traffic stopped, what was sent settled —
// the run checked (checker + liveness + nothing lost) and its view changes measured.
import { FaultCluster, type FaultClusterOptions } from './harness.js';
import { FaultRecorder } from './fault-recorder.js';
import { Member, Replica, Traffic, settle, type TrafficOptions } from './members.js';
import { EventLogReader, checkRun, type RunCheck } from './verify.js';
import { formatViewChange, measureViewChanges, proposalsFrom, type ViewChangeTime } from './view-change-times.js';

export interface ScenarioResult {
  readonly check: RunCheck;
  readonly times: ViewChangeTime[];
  /** Members alive at the end. */
  readonly live: Member[];
  readonly settled: boolean;
}

export class Scenario {
  readonly recorder = new FaultRecorder();
  readonly members: Member[] = [];
  readonly traffic: Traffic[] = [];
  #clientSeq = 0;

  private constructor(readonly cluster: FaultCluster) {}

  static async start(options: FaultClusterOptions): Promise<Scenario> {
    return new Scenario(await FaultCluster.start(options));
  }

  /** A new client on `daemon`, joined to `group` (with state transfer when `replica` is given). */
  async member(daemon: string, group: string, options: { replica?: Replica; rejoin?: boolean; timeoutMs?: number } = {}): Promise<Member> {
    const m = await Member.connect(this.recorder, daemon, this.cluster.url(daemon), `app${++this.#clientSeq}-${daemon}`);
    this.members.push(m);
    await m.join(group, options);
    return m;
  }

  /** Starts a multicast loop for each member (default: all alive). */
  send(group: string, members: readonly Member[] = this.members.filter((m) => m.alive), options: TrafficOptions = {}): Traffic[] {
    const started = members.map((m) => new Traffic(m, group, this.recorder, options));
    this.traffic.push(...started);
    return started;
  }

  get sent(): number {
    return this.traffic.reduce((n, t) => n + t.sent, 0);
  }

  /** Members on `daemon` (alive or not). */
  on(daemon: string): Member[] {
    return this.members.filter((m) => m.daemon === daemon);
  }

  /** Waits until `count` live members see a view of `group` with exactly the live members in it. */
  async waitForGroup(group: string, timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const live = this.members.filter((m) => m.alive && m.sessions(group) > 0);
      const ids = live.map((m) => m.id).sort().join(',');
      const views = live.map((m) => m.handle(group)?.view);
      if (views.every((v) => v !== undefined && [...v.members].sort().join(',') === ids)) return;
      if (Date.now() > end) {
        throw new Error(
          `timed out waiting for group ${group} to hold ${ids}: ${views.map((v, i) => `${live[i]!.id}: ${v === undefined ? 'rejoining' : `view ${v.id} [${v.members.join(',')}]`}`).join('; ')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops the traffic, settles every group, checks the whole run and measures its view changes. */
  async finish(groups: readonly string[]): Promise<ScenarioResult> {
    await Promise.all(this.traffic.map((t) => t.stop()));
    let settled = true;
    for (const g of groups) settled = (await settle(this.members, g, this.recorder)) && settled;
    const daemonLogs = new EventLogReader().read(this.cluster.eventLogs);
    const live = this.members.filter((m) => m.alive);
    const check = checkRun({
      daemonLogs,
      clientEvents: this.recorder.events,
      live: live.map((m) => m.id),
      accepted: this.recorder.accepted,
    });
    const times = measureViewChanges(this.cluster.faults, daemonLogs, proposalsFrom(this.cluster.processes));
    return { check, times, live, settled };
  }

  /** A failure report: the violations, the stats and the daemons' last log lines. */
  explain(result: ScenarioResult): string {
    return [
      result.check.report,
      `settled: ${result.settled}`,
      `stats: ${JSON.stringify(result.check.stats)}`,
      this.cluster.logTail(),
    ].join('\n');
  }

  /** One line for the test output: what ran and the view-change times (reported, not asserted). */
  summary(name: string, result: ScenarioResult): string {
    const s = result.check.stats;
    const lines = [
      `[faults] ${name}: ${this.sent} multicasts accepted, ${s.deliveries} deliveries, ${s.groupViews} group views, ${s.daemonViews} daemon views, ${result.check.violations.length} violations`,
      ...result.times.map((t) => `[faults]   ${formatViewChange(t)}`),
    ];
    return lines.join('\n');
  }

  /** Kills every daemon first: a multicast waiting on a stopped daemon then fails, so nothing hangs. */
  async close(): Promise<void> {
    await this.cluster.close();
    await Promise.allSettled(this.members.map((m) => m.close()));
    await Promise.allSettled(this.traffic.map((t) => t.stop()));
  }
}
