// deploy/ (issue 14, item 6): the Kubernetes manifests, the systemd unit and the
// Dockerfile are read and checked for the fields that make them work, and the commands
// they hold that can run here are run against real daemons: the Dockerfile's HEALTHCHECK
// and the unit's start-up wait on /readyz. Building and running the image needs a Docker
// daemon, and is skipped (saying so) where there is none.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

import { parseHostPort, resolveConfig } from '../../daemon/config.js';
import { freePort, startChorusd, waitFor, type DaemonProcess } from '../multi/harness.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const deployDir = join(root, 'deploy');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string>; files: string[] };

let daemons: DaemonProcess[] = [];
afterEach(async () => {
  await Promise.allSettled(daemons.map((d) => d.stop('SIGKILL')));
  daemons = [];
});

async function start(name: string, args: string[] = []): Promise<DaemonProcess> {
  const d = await startChorusd(name, { args });
  daemons.push(d);
  return d;
}


/** The environment of a command run as the image or the unit would: no CHORUS_* but these. */
function envWith(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CHORUS_')) env[k] = v;
  // `/usr/bin/env node` must find this node.
  env.PATH = `${dirname(process.execPath)}:${env.PATH ?? ''}`;
  return { ...env, ...vars };
}

/** Run argv; resolves with its exit code, or 'running' if it has not exited within `ms`. */
async function run(argv: readonly string[], env: NodeJS.ProcessEnv, ms: number): Promise<number | 'running'> {
  const child = spawn(argv[0]!, argv.slice(1), { env, stdio: 'ignore' });
  const exited = once(child, 'exit').then(([code]) => code as number);
  const timer = new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), ms));
  const result = await Promise.race([exited, timer]);
  if (result === 'running') child.kill('SIGKILL');
  return result;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

/** The port of a `host:port` the daemon would accept. */
const portOf = (address: string): number => parseHostPort(address).port;
/** The daemon's default ports (peer, client, admin), from its config. */
const defaults = resolveConfig([], {});

// ------------------------------------------------------------------ Kubernetes

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: Record<string, any>;
}

const manifests = filesUnder(deployDir).filter((f) => /\.ya?ml$/.test(f));
const objects: K8sObject[] = manifests.flatMap((file) =>
  parseAllDocuments(readFileSync(file, 'utf8')).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`${relative(root, file)}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const js = doc.toJS() as K8sObject | null;
    return js === null ? [] : [js];
  }),
);
const one = (kind: string, pick: (o: K8sObject) => boolean = () => true): K8sObject => {
  const found = objects.filter((o) => o.kind === kind && pick(o));
  if (found.length !== 1) throw new Error(`expected one ${kind} in deploy/, found ${found.length}`);
  return found[0]!;
};

/** Env values as the kubelet expands them: $(VAR) of a variable defined earlier in the list. */
function expandEnv(env: Array<{ name: string; value?: string; valueFrom?: any }>, fieldRefs: Record<string, string>, secrets: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    if (e.valueFrom?.fieldRef) {
      const v = fieldRefs[e.valueFrom.fieldRef.fieldPath as string];
      expect(v, `fieldRef ${e.valueFrom.fieldRef.fieldPath}`).toBeDefined();
      out[e.name] = v!;
    } else if (e.valueFrom?.secretKeyRef) {
      out[e.name] = secrets[`${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`] ?? '';
    } else {
      out[e.name] = String(e.value ?? '').replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (ref: string, name: string) => {
        expect(out[name], `${e.name} refers to $(${name}), which must be defined before it`).toBeDefined();
        return out[name] ?? ref;
      });
    }
  }
  return out;
}

/** Whether this build's --seeds takes `dns:NAME:PORT` (being added beside deploy/). */
function dnsSeedsSupported(): boolean {
  try {
    resolveConfig(['--seeds', 'dns:chorus.default.svc.cluster.local:7500'], {});
    return true;
  } catch {
    return false;
  }
}

describe('deploy/kubernetes', () => {
  it('parses every YAML manifest under deploy/', () => {
    expect(manifests.map((f) => relative(root, f))).toContain('deploy/kubernetes/chorus.yaml');
    expect(objects.map((o) => o.kind).sort()).toEqual(['PodDisruptionBudget', 'Service', 'Service', 'StatefulSet']);
    for (const o of objects) {
      expect(typeof o.apiVersion, `${o.kind} apiVersion`).toBe('string');
      expect(o.metadata.name, `${o.kind} name`).toMatch(/^[a-z0-9-]+$/);
    }
  });

  const sts = one('StatefulSet');
  const headless = one('Service', (o) => o.metadata.name === sts.spec.serviceName);
  const pod = sts.spec.template.spec;
  const container = pod.containers[0];
  const podLabels = sts.spec.template.metadata.labels as Record<string, string>;
  const ports = Object.fromEntries((container.ports as Array<{ name: string; containerPort: number }>).map((p) => [p.name, p.containerPort]));
  const env = expandEnv(container.env, { 'metadata.name': 'chorus-1', 'metadata.namespace': 'default' }, { 'chorus/secret': 's3cret' });

  it('a headless Service that publishes pods before they are ready', () => {
    expect(headless.spec.clusterIP).toBe('None');
    // Pods find each other through it before any is ready (ready = in the primary).
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    for (const [k, v] of Object.entries(headless.spec.selector as Record<string, string>)) expect(podLabels[k]).toBe(v);
    expect((headless.spec.ports as Array<{ port: number }>).map((p) => p.port)).toContain(portOf(defaults.listen));
  });

  it('a StatefulSet of 3 started in parallel, the three forming the first primary', () => {
    expect(sts.apiVersion).toBe('apps/v1');
    expect(sts.spec.replicas).toBe(3);
    expect(sts.spec.podManagementPolicy).toBe('Parallel');
    expect(Number(env.CHORUS_EXPECT)).toBe(sts.spec.replicas);
    // Service links would add CHORUS_* variables of their own (Services named chorus*).
    expect(pod.enableServiceLinks).toBe(false);
    for (const [k, v] of Object.entries(sts.spec.selector.matchLabels as Record<string, string>)) expect(podLabels[k]).toBe(v);
  });

  it('each pod is named after itself and advertises its stable DNS name', () => {
    expect(env.CHORUS_NAME).toBe('chorus-1');
    expect(env.CHORUS_ADVERTISE).toBe(`chorus-1.${headless.metadata.name}.default.svc.cluster.local:${portOf(defaults.listen)}`);
    expect(env.CHORUS_SEEDS).toBe(`dns:${headless.metadata.name}.default.svc.cluster.local:${portOf(defaults.listen)}`);
    // The daemon accepts every other setting as the pod gets it.
    const { CHORUS_SEEDS: _seeds, ...rest } = env;
    const cfg = resolveConfig([], { ...rest, CHORUS_SEEDS: '' });
    expect(cfg.name).toBe('chorus-1');
    expect(cfg.advertise).toBe(env.CHORUS_ADVERTISE);
    expect(cfg.expect).toBe(3);
    expect(cfg.secrets).toEqual(['s3cret']);
    expect(portOf(cfg.listen)).toBe(ports.peer);
    expect(portOf(cfg.client)).toBe(ports.client);
    expect(parseHostPort(cfg.admin)).toEqual({ host: '0.0.0.0', port: ports.admin });
  });

  it.skipIf(!dnsSeedsSupported())('the daemon takes the dns: seed', () => {
    const cfg = resolveConfig([], env);
    expect(cfg.seeds).toHaveLength(1);
  });
  if (!dnsSeedsSupported()) {
    it('notes that --seeds dns: is not in this build yet', () => {
      console.warn('deploy.test: --seeds dns:NAME:PORT is not supported by this build: the manifest\'s CHORUS_SEEDS was checked as text only');
    });
  }

  it('probes: ready on /readyz, live on /healthz, both on the admin port', () => {
    for (const [probe, path] of [['readinessProbe', '/readyz'], ['livenessProbe', '/healthz']] as const) {
      const get = container[probe].httpGet as { path: string; port: string | number };
      expect(get.path, probe).toBe(path);
      expect(typeof get.port === 'string' ? ports[get.port] : get.port, `${probe} port`).toBe(portOf(env.CHORUS_ADMIN!));
    }
  });

  it('runs as non-root, and a PodDisruptionBudget keeps a majority up', () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
    const pdb = one('PodDisruptionBudget');
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec.maxUnavailable).toBe(1);
    for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels as Record<string, string>)) expect(podLabels[k]).toBe(v);
  });
});

// ------------------------------------------------------------------ systemd

/** An ini-like unit file: sections of `Key=value` (repeatable keys keep every value). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[([A-Za-z]+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (current === undefined || eq <= 0) throw new Error(`not a unit file line: ${line}`);
    expect(line.endsWith('\\'), 'no continued lines').toBe(false);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

/** A command line as systemd splits it (whitespace; "double" and 'single' quotes; no escapes used). */
function splitCommand(line: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) words.push(m[1] ?? m[2] ?? m[3]!);
  return words;
}

describe('deploy/systemd', () => {
  const unitText = readFileSync(join(deployDir, 'systemd/chorusd.service'), 'utf8');
  const unit = parseUnit(unitText);
  const service = unit.get('Service')!;
  const value = (key: string): string | undefined => service.get(key)?.at(-1);
  const waitReady = splitCommand(value('ExecStartPost') ?? '');

  it('has the sections and keys of a hardened, restarting service with a readiness wait', () => {
    expect([...unit.keys()]).toEqual(['Unit', 'Service', 'Install']);
    expect(unit.get('Unit')!.get('After')).toEqual(['network-online.target']);
    expect(unit.get('Install')!.get('WantedBy')).toEqual(['multi-user.target']);
    expect(value('Type')).toBe('exec');
    expect(value('ExecStart')).toMatch(/\/chorusd$/);
    expect(value('Restart')).toBe('on-failure');
    expect(value('EnvironmentFile')).toBe('/etc/chorus/chorusd.env');
    expect(value('DynamicUser')).toBe('yes');
    expect(value('ProtectSystem')).toBe('strict');
    expect(value('StateDirectory')).toBe('chorus');
    expect(value('NoNewPrivileges')).toBe('yes');
    expect(value('KillSignal')).toBe('SIGTERM');
    // V8's JIT needs writable executable memory.
    expect(value('MemoryDenyWriteExecute')).toBeUndefined();
    // systemd would expand $VAR and %x inside the command lines: they must hold neither.
    for (const key of ['ExecStart', 'ExecStartPost']) expect(value(key), key).not.toMatch(/[$%\\]/);
    expect(waitReady.slice(0, 3)).toEqual(['/usr/bin/env', 'node', '-e']);
    expect(waitReady).toHaveLength(4);
    expect(waitReady[3]).toContain("'/readyz'");
  });

  it('its env example is a config the daemon accepts', () => {
    const env: Record<string, string> = {};
    for (const line of readFileSync(join(deployDir, 'systemd/chorusd.env.example'), 'utf8').split('\n')) {
      if (line.trim() === '' || line.startsWith('#')) continue;
      const m = /^(CHORUS_[A-Z_]+)=(.*)$/.exec(line);
      expect(m, `KEY=value line: ${line}`).not.toBeNull();
      env[m![1]!] = m![2]!;
    }
    const cfg = resolveConfig([], env);
    expect(cfg.name).toBe('a');
    expect(cfg.seeds).toHaveLength(2);
    expect(cfg.expect).toBe(3);
    expect(env.CHORUS_ADMIN).toBeDefined();
  });

  it.skipIf(spawnSync('systemd-analyze', ['--version']).status !== 0)('systemd-analyze verify accepts the unit (ExecStart pointed at this checkout)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chorus-unit-'));
    try {
      const launcher = join(root, pkg.bin.chorusd!);
      accessSync(launcher, constants.X_OK);
      const file = join(dir, 'chorusd.service');
      writeFileSync(file, unitText.replace(/^ExecStart=.*$/m, `ExecStart=${launcher}`));
      const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
      expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('its start-up wait returns at once for a ready daemon', async () => {
    const a = await start('a');
    expect(await run(waitReady, envWith({ CHORUS_ADMIN: a.admin }), 15_000)).toBe(0);
  });

  it('its start-up wait polls while the daemon waits for --expect peers, and returns once they formed the primary', async () => {
    const seed = `127.0.0.1:${await freePort()}`;
    const a = await start('a', ['--seeds', seed, '--expect', '2']);
    const child = spawn(waitReady[0]!, waitReady.slice(1), { env: envWith({ CHORUS_ADMIN: a.admin }), stdio: 'ignore' });
    const exited = once(child, 'exit').then(([code]) => code as number);
    try {
      await new Promise((r) => setTimeout(r, 2_000));
      expect(child.exitCode, 'still waiting for the primary').toBeNull();
      await start('b', ['--listen', seed, '--seeds', a.listen, '--expect', '2']);
      const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timed out'), 20_000))]);
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

// ------------------------------------------------------------------ Dockerfile

interface Instruction {
  readonly op: string;
  readonly args: string;
  readonly stage: number;
}

/** Instructions of a Dockerfile: comments dropped, `\` continuations joined, stages counted from 0. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    const line = raw.trimEnd();
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full === '') continue;
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(full);
    if (m === null) throw new Error(`not a Dockerfile instruction: ${full}`);
    const op = m[1]!.toUpperCase();
    if (op === 'FROM') stage++;
    out.push({ op, args: m[2]!.trim(), stage });
  }
  return out;
}

function dockerAvailable(): boolean {
  return spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

describe('deploy/Dockerfile', () => {
  const instructions = parseDockerfile(readFileSync(join(deployDir, 'Dockerfile'), 'utf8'));
  const last = Math.max(...instructions.map((i) => i.stage));
  const runtime = instructions.filter((i) => i.stage === last);
  const build = instructions.filter((i) => i.stage === 0);
  const only = (op: string): Instruction => {
    const found = runtime.filter((i) => i.op === op);
    expect(found, `one ${op} in the runtime stage`).toHaveLength(1);
    return found[0]!;
  };
  const healthcheck = only('HEALTHCHECK');
  const healthArgv = JSON.parse(healthcheck.args.slice(healthcheck.args.indexOf('CMD') + 3).trim()) as string[];
  const imageEnv: Record<string, string> = {};
  for (const i of runtime.filter((x) => x.op === 'ENV')) {
    for (const m of i.args.matchAll(/([A-Z_]+)=(\S+)/g)) imageEnv[m[1]!] = m[2]!;
  }

  it('is multi-stage on a small node:20 image: build with npm ci && npm run build, run with production dependencies and dist/', () => {
    const froms = instructions.filter((i) => i.op === 'FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) expect(f.args).toMatch(/^node:20-(slim|alpine)\b/);
    const buildRuns = build.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(buildRuns.some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    expect(buildRuns.some((r) => /\bnpm run build\b/.test(r))).toBe(true);
    expect(runtime.filter((i) => i.op === 'RUN').some((i) => /\bnpm ci\b.*--omit=dev/.test(i.args))).toBe(true);
    expect(runtime.some((i) => i.op === 'COPY' && /^--from=\S+\s+\S*dist\/?\s+dist\/?$/.test(i.args))).toBe(true);
    // Everything `npm run build` reads is copied into the build stage.
    const copied = build.filter((i) => i.op === 'COPY').flatMap((i) => i.args.split(/\s+/).slice(0, -1)).map((p) => p.replace(/\/$/, ''));
    const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')) as { include: string[] };
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'scripts', 'proto', ...tsconfig.include.map((g) => g.split('/')[0]!)]) {
      expect(copied, `the build stage copies ${needed}`).toContain(needed);
    }
    for (const p of [...copied, ...runtime.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(/\s+/).slice(0, -1))]) {
      expect(existsSync(join(root, p)), `${p} exists`).toBe(true);
    }
  });

  it('runs as the non-root node user, starting the package\'s chorusd', () => {
    expect(only('USER').args).toBe('node');
    const entry = JSON.parse(only('ENTRYPOINT').args) as string[];
    expect(entry[0]).toBe('node');
    expect(entry[1]).toBe(pkg.bin.chorusd!.replace(/^\.\//, ''));
    expect(runtime.some((i) => i.op === 'COPY' && /^bin\/?\s/.test(i.args))).toBe(true);
  });

  it('listens on every interface of the container and exposes the three ports', () => {
    const cfg = resolveConfig([], imageEnv);
    expect(parseHostPort(cfg.listen)).toEqual({ host: '0.0.0.0', port: portOf(defaults.listen) });
    expect(parseHostPort(cfg.client)).toEqual({ host: '0.0.0.0', port: portOf(defaults.client) });
    expect(parseHostPort(cfg.admin)).toEqual({ host: '0.0.0.0', port: portOf(defaults.admin) });
    const exposed = only('EXPOSE').args.split(/\s+/).map(Number).sort();
    expect(exposed).toEqual([portOf(defaults.listen), portOf(defaults.client), portOf(defaults.admin)].sort());
  });

  it('its HEALTHCHECK is node itself asking /healthz', () => {
    expect(healthcheck.args).toMatch(/^(--\S+\s+)*CMD \[/);
    expect(healthArgv.slice(0, 2)).toEqual(['node', '-e']);
    expect(healthArgv[2]).toContain("'/healthz'");
  });

  it('its HEALTHCHECK command exits 0 while the daemon runs (ready or not), non-zero once it is gone', async () => {
    const check = (admin: string) => run(healthArgv, envWith({ CHORUS_ADMIN: admin }), 15_000);
    const a = await start('a');
    expect(await check(a.admin)).toBe(0);
    // As in the image: the admin port on 0.0.0.0 is asked on loopback.
    expect(await check(`0.0.0.0:${portOf(a.admin)}`)).toBe(0);
    // Live while it waits for its peers (not ready yet).
    const waiting = await start('w', ['--seeds', `127.0.0.1:${await freePort()}`, '--expect', '2']);
    expect((await waiting.status()).daemon.mode).toBe('joining');
    expect(await check(waiting.admin)).toBe(0);
    await a.stop('SIGKILL');
    expect(await check(a.admin)).toBe(1);
    // A port that is not chorusd's admin port.
    expect(await check(waiting.client)).toBe(1);
  });

  const docker = dockerAvailable();
  if (!docker) {
    it('notes that the image itself is not built here', () => {
      console.warn('deploy.test: no Docker daemon reachable (docker info failed): deploy/Dockerfile was checked and its HEALTHCHECK run, but the image was not built');
    });
  }
  it.skipIf(!docker)('builds the image, and a container of it becomes healthy', async () => {
    const tag = `chorusd-deploy-test:${process.pid}`;
    const name = `chorusd-deploy-test-${process.pid}`;
    execFileSync('docker', ['build', '-f', join(deployDir, 'Dockerfile'), '-t', tag, root], { stdio: 'pipe', timeout: 600_000 });
    try {
      execFileSync('docker', ['run', '-d', '--name', name, '-e', 'CHORUS_NAME=solo', tag], { stdio: 'pipe' });
      await waitFor('the container healthy', () => execFileSync('docker', ['inspect', '-f', '{{.State.Health.Status}}', name], { encoding: 'utf8' }).trim() === 'healthy', 60_000);
      expect(execFileSync('docker', ['exec', name, 'node', 'bin/chorus.js', 'status', '--json'], { encoding: 'utf8' })).toContain('"solo"');
    } finally {
      spawnSync('docker', ['rm', '-f', name], { stdio: 'ignore' });
      spawnSync('docker', ['rmi', tag], { stdio: 'ignore' });
    }
  }, 700_000);
});

describe('the npm package', () => {
  it('does not ship deploy/ (built from a checkout: the Dockerfile needs the sources)', () => {
    expect(pkg.files.some((f) => f.startsWith('deploy'))).toBe(false);
  });
});
